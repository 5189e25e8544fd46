package io.razorstream.engine.cli;

import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.synth.SynthModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(
        name = "synth-model",
        mixinStandardHelpOptions = true,
        description = "Write the constructed llama GGUF with known retrieval heads "
                + "(it copies what followed an earlier bigram).")
final class SynthModelCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "output GGUF file")
    Path out;

    @Option(
            names = "--type",
            defaultValue = "F32",
            description = "matrix type: F32, F16, BF16, Q8_0, Q4_0 (default: ${DEFAULT-VALUE})")
    GgmlType type;

    @Override
    public Integer call() throws IOException {
        // The constructed weights are quantised, and the quantiser writes these types (K-quants only come from
        // llama.cpp files).
        if (!Set.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0)
                .contains(type)) {
            throw new IllegalArgumentException("--type " + type + " is not supported (F32, F16, BF16, Q8_0, Q4_0)");
        }
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent))
            throw new IllegalArgumentException("directory " + parent + " does not exist");
        SynthModel.write(out, type);
        spec.commandLine()
                .getErr()
                .printf(
                        "wrote %s (%s, %,d bytes); retrieval heads: induction layer "
                                + "%d head %d, echo layer %d head %d%n",
                        out,
                        type,
                        Files.size(out),
                        SynthModel.INDUCTION[0],
                        SynthModel.INDUCTION[1],
                        SynthModel.ECHO[0],
                        SynthModel.ECHO[1]);
        spec.commandLine().getErr().flush();
        return 0;
    }
}
