package io.razorstream.store.bench;

import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.PolicyNames;
import io.razorstream.engine.attention.RandomContext;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.bench.Benchmark;
import io.razorstream.engine.model.ModelConfig;
import io.razorstream.store.RocksBackend;
import io.razorstream.store.Session;
import io.razorstream.store.SessionStore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Append throughput and load time of one long session on RocksDB. The cache is filled with random keys and values (the
 * store does not care where they came from) in turns of {@code turnTokens}; only the saves are timed. Then the database
 * is reopened and the session loaded {@code loads} times.
 */
public final class StoreBenchmark {
    private StoreBenchmark() {}

    public record Result(
            int tokens,
            double appendTokensPerSecond,
            double loadMillisMedian,
            double[] loadMillis,
            long diskBytes,
            long cacheBytes,
            long fullF16Bytes) {}

    public static Result run(
            Path dir,
            ModelConfig config,
            KvPolicy policy,
            KvPrecision precision,
            int tokens,
            int turnTokens,
            int blockSize,
            int loads) {
        long saveNanos = 0;
        long cacheBytes, fullF16;
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Session.create("bench", config, policy, precision, "bench-model", "bench-profile", blockSize);
            for (int done = 0, turn = 0; done < tokens; turn++) {
                int n = Math.min(turnTokens, tokens - done);
                RandomContext.append(s.cache(), n, turn);
                long t0 = System.nanoTime();
                store.save(s, turn);
                saveNanos += System.nanoTime() - t0;
                done += n;
            }
            cacheBytes = s.cache().bytesInUse();
            fullF16 = s.cache().fullBytes()
                    / precision.vectorBytes(config.headSize())
                    * KvPrecision.F16.vectorBytes(config.headSize());
            db.flush();
        }
        double[] loadMillis = new double[loads];
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            for (int i = -1; i < loads; i++) { // one unmeasured warm-up load
                long t0 = System.nanoTime();
                Session s = store.load("bench", config, "bench-model").orElseThrow();
                long t1 = System.nanoTime();
                if (s.tokens() != tokens)
                    throw new IllegalStateException("loaded " + s.tokens() + " tokens, wrote " + tokens);
                if (i >= 0) loadMillis[i] = (t1 - t0) / 1e6;
            }
        }
        return new Result(
                tokens,
                tokens / (saveNanos / 1e9),
                Benchmark.median(loadMillis),
                loadMillis,
                directoryBytes(dir),
                cacheBytes,
                fullF16);
    }

    /**
     * RazorAttention at the paper's settings (every window head compensated) with {@code ratio} of the KV heads full
     * (spread evenly).
     */
    public static KvPolicy razor(ModelConfig config, double ratio) {
        boolean[][] retrieval = HeadSelection.evenly(config.blockCount(), config.kvHeadCount(), ratio);
        return PolicyNames.parse(
                "razor-paper",
                new PolicyNames.Context(
                        config.blockCount(), config.kvHeadCount(), retrieval, null, null, null, WindowParams.PAPER, 0));
    }

    static long directoryBytes(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile)
                    .mapToLong(p -> {
                        try {
                            return Files.size(p);
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    })
                    .sum();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
