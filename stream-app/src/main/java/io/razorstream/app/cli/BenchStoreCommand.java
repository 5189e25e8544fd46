package io.razorstream.app.cli;

import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.model.ModelConfig;
import io.razorstream.store.bench.StoreBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(
        name = "bench-store",
        mixinStandardHelpOptions = true,
        description = "Session store benchmark: append throughput, load time and "
                + "bytes on disk of one long session in RocksDB.")
final class BenchStoreCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(
            names = "--like",
            defaultValue = "tinyllama-1.1b",
            paramLabel = "SHAPE",
            description = "model shape: tiny, llama-3.2-1b or tinyllama-1.1b (the default)")
    String like;

    @Option(names = "--tokens", defaultValue = "32768", description = "session length (default: ${DEFAULT-VALUE})")
    int tokens;

    @Option(
            names = "--turn-tokens",
            defaultValue = "200",
            description = "tokens per saved turn (default: ${DEFAULT-VALUE})")
    int turnTokens;

    @Option(
            names = "--retrieval-ratio",
            defaultValue = "0.15",
            description = "share of KV heads kept full; 1 = the ordinary cache (default: ${DEFAULT-VALUE})")
    double ratio;

    @Option(
            names = "--kv-precision",
            defaultValue = "F16",
            description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    KvPrecision precision;

    @Option(names = "--block", defaultValue = "32", description = "tokens per stored block (default: ${DEFAULT-VALUE})")
    int block;

    @Option(names = "--loads", defaultValue = "5", description = "measured loads (default: ${DEFAULT-VALUE})")
    int loads;

    @Option(names = "--dir", description = "database directory (default: a temporary one, deleted afterwards)")
    Path dir;

    @Override
    public Integer call() throws Exception {
        ModelShape shape = ModelShape.byId(like);
        if (tokens < 1 || turnTokens < 1 || loads < 1)
            throw new IllegalArgumentException("--tokens, --turn-tokens and --loads must be positive");
        if (ratio < 0 || ratio > 1) throw new IllegalArgumentException("--retrieval-ratio must be in [0, 1]");
        ModelConfig config = new ModelConfig(
                shape.embedding,
                shape.layers,
                shape.heads,
                shape.kvHeads,
                shape.headDim,
                shape.feedForward,
                shape.vocabulary,
                Math.max(shape.context, tokens),
                1e-5f,
                shape.ropeBase,
                shape.headDim);
        KvPolicy policy = StoreBenchmark.razor(config, ratio);
        Path where = dir != null ? dir : Files.createTempDirectory("razorstream-bench-store");
        try {
            StoreBenchmark.Result r =
                    StoreBenchmark.run(where, config, policy, precision, tokens, turnTokens, block, loads);
            PrintWriter out = spec.commandLine().getOut();
            out.printf(
                    Locale.ROOT,
                    "%s shape, %d tokens, %.0f%% of KV heads full, %s, blocks of %d, turns of %d tokens%n",
                    like,
                    tokens,
                    100 * ratio,
                    precision,
                    block,
                    turnTokens);
            out.printf(Locale.ROOT, "append: %.0f tokens/s written (saves only)%n", r.appendTokensPerSecond());
            out.printf(
                    Locale.ROOT,
                    "load: %.1f ms median (runs: %s)%n",
                    r.loadMillisMedian(),
                    Arrays.stream(r.loadMillis())
                            .mapToObj(x -> String.format(Locale.ROOT, "%.1f", x))
                            .collect(Collectors.joining(", ")));
            out.printf(
                    Locale.ROOT,
                    "on disk: %,d bytes; cache %,d bytes; full F16 cache %,d bytes (%.2fx smaller on disk)%n",
                    r.diskBytes(),
                    r.cacheBytes(),
                    r.fullF16Bytes(),
                    r.fullF16Bytes() / (double) r.diskBytes());
            out.flush();
        } finally {
            if (dir == null) deleteTree(where);
        }
        return 0;
    }

    /** Deletes a directory and everything in it. */
    static void deleteTree(Path p) throws IOException {
        try (var files = Files.walk(p)) {
            for (Path f : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
        }
    }
}
