package io.razorstream.engine.model;

import com.sun.management.ThreadMXBean;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Kernels;
import io.razorstream.engine.kernel.Parallel;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The native tier's decode loop allocates nothing per token: {@link Transformer#decode} into one logits array, measured
 * over every thread of the JVM (the caller and the compute workers) with the JDK's per-thread allocation counters,
 * after a warm-up and between cache growths. A regression of one small object per matrix product or attention pass (13
 * per token on this 2-layer shape) would exceed the bound.
 */
class DecodeAllocationTest {
    @TempDir
    static Path dir;

    @ParameterizedTest
    @EnumSource(
            value = GgmlType.class,
            names = {"Q8_0", "Q4_0", "Q4_K", "F16"})
    void nativeDecodeAllocatesNothingPerToken(GgmlType type) throws IOException {
        Assumptions.assumeTrue(
                Kernels.nativeSelected(), "the native kernel tier is not selected here: " + Kernels.describe());
        Path file = dir.resolve("small-" + type + ".gguf");
        RandomModel.write(ModelShape.TINY, type, 3, file);
        var threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (LoadedModel loaded = LoadedModel.open(file);
                Parallel parallel = new Parallel(2)) {
            Transformer m = loaded.model();
            int layers = m.config().blockCount(), kvHeads = m.config().kvHeadCount();
            for (boolean razor : new boolean[] {false, true}) {
                boolean[][] retrieval = new boolean[layers][kvHeads];
                for (int l = 0; l < layers; l++)
                    retrieval[l][l % kvHeads] = true; // one FULL head per layer, the rest windowed
                KvCache cache = razor
                        ? m.newCache(256, KvPrecision.F16, KvPolicy.razor(retrieval, new WindowParams(4, 16, 5, true)))
                        : m.newCache(256, KvPrecision.F16);
                float[] logits = new float[m.config().vocabularySize()];
                int token = 5;
                // Warm-up, so that what is measured is the compiled loop (interpreted Vector API code allocates boxes).
                for (int round = 0; round < 3; round++) {
                    for (int i = 0; i < 200; i++) m.decode(cache, token = next(token, logits), logits, parallel);
                    cache.clear();
                }
                for (int i = 0; i < 70; i++)
                    m.decode(cache, token = next(token, logits), logits, parallel); // past the growth at 64
                long before = threads.getTotalThreadAllocatedBytes();
                int tokens = 50;
                for (int i = 0; i < tokens; i++) m.decode(cache, token = next(token, logits), logits, parallel);
                long perToken = (threads.getTotalThreadAllocatedBytes() - before) / tokens;
                System.out.println(type + (razor ? " razor" : " full") + ": " + perToken + " bytes per token");
                assertThat(perToken)
                        .as("%s bytes allocated per decoded token (%s cache)", type, razor ? "razor" : "full")
                        .isLessThan(128);
            }
        }
    }

    private static int next(int token, float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return (best + token) % logits.length;
    }
}
