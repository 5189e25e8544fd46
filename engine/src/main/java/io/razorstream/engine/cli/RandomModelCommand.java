package io.razorstream.engine.cli;

import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.kernel.GgmlType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(
        name = "random-model",
        mixinStandardHelpOptions = true,
        description = "Write a random-weights GGUF with the shape, family and "
                + "tokenizer kind of a named model (for benchmarks).")
final class RandomModelCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(
            names = "--like",
            required = true,
            description = "shape: tinyllama-1.1b, llama-3.2-1b, qwen3-0.6b, "
                    + "gemma-2-2b, gemma-3-1b, phi-3-mini, tiny, tiny-qwen3, "
                    + "tiny-gemma2, tiny-gemma3 or tiny-phi3")
    String like;

    @Option(
            names = "--type",
            defaultValue = "Q8_0",
            description = "matrix type: F32, F16, BF16, Q8_0, Q4_0, or Q4_K / Q5_K / "
                    + "Q6_K (random quants) (default: ${DEFAULT-VALUE})")
    GgmlType type;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "output GGUF file")
    Path out;

    @Option(names = "--seed", defaultValue = "1", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--context-length", description = "context length to declare (default: the named model's)")
    Integer contextLength;

    @Option(
            names = "--as-llama",
            description = "write the shape as a plain llama model (the baseline for the family's own layers)")
    boolean asLlama;

    @Override
    public Integer call() throws IOException {
        ModelShape shape = ModelShape.byId(like);
        if (!type.supported())
            throw new IllegalArgumentException("--type " + type + " is not supported (F32, F16, BF16, Q8_0, Q4_0)");
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent))
            throw new IllegalArgumentException("directory " + parent + " does not exist");
        long t0 = System.nanoTime();
        if (contextLength != null && contextLength < 16)
            throw new IllegalArgumentException("--context-length must be >= 16");
        RandomModel.write(shape, type, seed, contextLength != null ? contextLength : shape.context, asLlama, out);
        spec.commandLine()
                .getErr()
                .printf(
                        "wrote %s: %s shape, %s, %s, %,d parameters, %,d bytes in %.1f s%n",
                        out,
                        shape.id,
                        asLlama ? "llama" : shape.architecture,
                        type,
                        shape.parameters(),
                        Files.size(out),
                        (System.nanoTime() - t0) / 1e9);
        spec.commandLine().getErr().flush();
        return 0;
    }
}
