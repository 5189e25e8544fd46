package io.razorstream.engine.cli;

import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.gguf.GgufTensorInfo;
import io.razorstream.engine.gguf.GgufValue;
import io.razorstream.engine.gguf.GgufValueType;
import io.razorstream.engine.kernel.Kernels;
import io.razorstream.engine.model.ModelConfig;
import io.razorstream.engine.model.ModelWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

@Command(
        name = "inspect",
        mixinStandardHelpOptions = true,
        description = "Print a GGUF file's metadata and tensor table.")
final class InspectCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Option(
            names = "--array-elements",
            defaultValue = "8",
            description = "array elements shown per metadata value (default: ${DEFAULT-VALUE})")
    int arrayElements;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        try (GgufFile f = GgufFile.open(model.resolve())) {
            out.printf(
                    "file: %s%nGGUF version %d, %d bytes, alignment %d, tensor data at byte %d%n%n",
                    f.path(), f.version(), f.fileSize(), f.alignment(), f.dataOffset());
            out.printf("metadata (%d):%n", f.metadata().size());
            for (Map.Entry<String, GgufValue> e : f.metadata().entrySet()) {
                GgufValue v = e.getValue();
                String type = v.type() == GgufValueType.ARRAY
                        ? "ARRAY<" + v.asArray().elementType() + ">["
                                + v.asArray().size() + "]"
                        : v.type().toString();
                out.printf("  %-45s %-22s %s%n", e.getKey(), type, v.describe(arrayElements));
            }
            out.printf("%ntensors (%d):%n", f.tensors().size());
            out.printf("  %-34s %-6s %-20s %14s %14s%n", "name", "type", "shape", "offset", "bytes");
            long params = 0;
            for (GgufTensorInfo t : f.tensors().values()) {
                String shape = Arrays.stream(t.shape()).mapToObj(Long::toString).collect(Collectors.joining(" x "));
                out.printf("  %-34s %-6s %-20s %14d %14d%n", t.name(), t.type(), shape, t.offset(), t.byteSize());
                params += t.elementCount();
            }
            out.printf("%n%d parameters, %d bytes of tensor data%n", params, f.tensorBytes());
            out.printf("runs on: %s%n", Kernels.describe());
            describeModel(f, out);
        }
        out.flush();
        return 0;
    }

    /** The family as the engine reads it, and what a cache keeps on its sliding-window layers; or why it cannot run. */
    private static void describeModel(GgufFile f, PrintWriter out) {
        ModelConfig c;
        try {
            c = ModelConfig.from(f);
        } catch (GgufFormatException e) {
            out.printf("model: not runnable: %s%n", e.getMessage());
            return;
        }
        out.printf(
                "model: %s, %d layers, %d heads (%d KV) of %d, features %s%n",
                c.architecture(),
                c.blockCount(),
                c.headCount(),
                c.kvHeadCount(),
                c.headSize(),
                c.arch().features().isEmpty() ? "none" : new TreeSet<>(c.arch().features()));
        try {
            float localBase = c.slidingWindow().ropeBase();
            out.printf(
                    "rope: %s, base %s%s, %d dimensions, scaling: %s%n",
                    c.arch().rope().toString().toLowerCase(Locale.ROOT),
                    c.ropeFreqBase(),
                    localBase > 0 && localBase != c.ropeFreqBase() ? " (sliding-window layers: " + localBase + ")" : "",
                    c.ropeDimensions(),
                    ModelWeights.ropeScaling(f, c));
        } catch (GgufFormatException e) {
            out.printf("rope: not runnable: %s%n", e.getMessage());
        }
        var w = c.slidingWindow();
        if (w.size() > 0) {
            out.printf(
                    "sliding window: %d tokens on %d of %d layers %s; those "
                            + "layers' heads keep at most %d positions by the model's own " + "definition "
                            + "(no compensation token, never retrieval heads); full-cache sizes count them windowed%n",
                    w.size(),
                    w.localLayers(),
                    c.blockCount(),
                    IntStream.range(0, c.blockCount())
                            .filter(c::isLocal)
                            .boxed()
                            .toList(),
                    w.size());
        }
    }
}
