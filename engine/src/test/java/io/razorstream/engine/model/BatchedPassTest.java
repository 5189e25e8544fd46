package io.razorstream.engine.model;

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
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Continuous batching: eight sequences (different prompt lengths, FULL and RazorAttention caches, prefill chunks
 * meeting other sequences' decode steps) run at the same time from eight threads, so their work shares forward passes;
 * each sequence's logits, step by step, equal those of the same sequence run alone. Bit for bit on the native tier (its
 * GEMM computes every (row, token) pair the same way whatever the batch); on the Java tier a batch takes the float GEMM
 * where a lone decode step takes the quantised dot, so there within {@link #JAVA_TIER_TOLERANCE}. The test also checks
 * that the passes were shared (mean rows per pass well above one sequence's).
 */
class BatchedPassTest {
    /**
     * Java tier: float GEMM (batch) against the Q8-activation dot (a lone decode step), on logits of magnitude ~1-10.
     */
    private static final float JAVA_TIER_TOLERANCE = 5e-2f;

    private static final int SEQUENCES = 8, STEPS = 24;

    @TempDir
    static Path dir;

    @ParameterizedTest
    @EnumSource(
            value = GgmlType.class,
            names = {"Q8_0", "Q4_K", "F16"})
    void concurrentSequencesEqualEachRunAlone(GgmlType type) throws Exception {
        Path file = dir.resolve("tiny-" + type + ".gguf");
        RandomModel.write(ModelShape.TINY, type, 11, file);
        try (LoadedModel loaded = LoadedModel.open(file);
                Parallel parallel = new Parallel(2)) {
            Transformer m = loaded.model();
            List<float[][]> alone = new ArrayList<>();
            for (int s = 0; s < SEQUENCES; s++) alone.add(run(m, s, parallel, null));

            PassCounts before = m.passCounts();
            CyclicBarrier start = new CyclicBarrier(SEQUENCES);
            ExecutorService pool = Executors.newFixedThreadPool(SEQUENCES);
            List<Future<float[][]>> together = new ArrayList<>();
            try {
                for (int s = 0; s < SEQUENCES; s++) {
                    int seq = s;
                    together.add(pool.submit(() -> run(m, seq, parallel, start)));
                }
                for (int s = 0; s < SEQUENCES; s++) {
                    float[][] got = together.get(s).get(), expected = alone.get(s);
                    for (int step = 0; step < expected.length; step++) {
                        if (Kernels.nativeSelected()) {
                            assertThat(got[step])
                                    .as("sequence %d, step %d", s, step)
                                    .isEqualTo(expected[step]);
                        } else {
                            for (int i = 0; i < expected[step].length; i++) {
                                assertThat(Math.abs(got[step][i] - expected[step][i]))
                                        .as("sequence %d, step %d, logit %d", s, step, i)
                                        .isLessThanOrEqualTo(JAVA_TIER_TOLERANCE);
                            }
                        }
                    }
                }
            } finally {
                pool.shutdownNow();
            }
            PassCounts shared = m.passCounts().since(before);
            System.out.printf("%s: %d passes, %.1f rows per pass%n", type, shared.passes(), shared.meanRows());
            // Alone, the decode steps are one row each; eight sequences decoding together share passes.
            assertThat(shared.meanRows())
                    .as("rows per pass with %d sequences at once", SEQUENCES)
                    .isGreaterThan(3.0);
        }
    }

    /**
     * Isolation: three sequences share one pass (run directly, so they surely do); a fault injected into the middle
     * one's cache writes fails that part only. The other two get the logits they get alone, and their caches go on
     * exactly as caches that never shared a pass (three more decode steps, compared logit for logit).
     */
    @org.junit.jupiter.api.Test
    void aFailureInOneSequenceOfASharedPassFailsOnlyThatSequence() throws Exception {
        Path file = dir.resolve("tiny-isolation.gguf");
        RandomModel.write(ModelShape.TINY, GgmlType.Q8_0, 12, file);
        try (LoadedModel loaded = LoadedModel.open(file);
                Parallel parallel = new Parallel(2)) {
            Transformer m = loaded.model();
            int vocab = m.config().vocabularySize();
            KvCache[] shared = new KvCache[3], alone = new KvCache[3];
            for (int s = 0; s < 3; s++) {
                int[] prompt = new int[9 + 7 * s];
                for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 11 + s * 5 + 2) % vocab;
                shared[s] = m.newCache(128, KvPrecision.F16);
                alone[s] = m.newCache(128, KvPrecision.F16);
                m.forward(shared[s], prompt, 0, prompt.length, parallel);
                m.forward(alone[s], prompt, 0, prompt.length, parallel);
            }
            shared[1].injectFaults((layer, position) -> {
                if (layer == 1) throw new IllegalStateException("injected fault at layer 1, position " + position);
            });
            List<PassScheduler.Work> parts = new ArrayList<>();
            float[][][] logits = new float[3][1][vocab];
            for (int s = 0; s < 3; s++) {
                shared[s].reserve(1);
                parts.add(new PassScheduler.Work()
                        .set(shared[s], new int[] {(s * 17 + 3) % vocab}, 0, 1, logits[s], parallel));
            }
            m.pass(parts, parallel);
            assertThat(parts.get(1).failed())
                    .as("the faulty sequence's part failed")
                    .isTrue();
            for (int s : new int[] {0, 2}) {
                assertThat(parts.get(s).failed()).as("sequence %d", s).isFalse();
                float[] expected = new float[vocab];
                m.decode(alone[s], (s * 17 + 3) % vocab, expected, parallel);
                assertThat(logits[s][0])
                        .as("sequence %d's logits in the shared pass", s)
                        .isEqualTo(expected);
                assertThat(shared[s].size()).isEqualTo(alone[s].size());
                for (int step = 0; step < 3; step++) {
                    float[] a = new float[vocab], b = new float[vocab];
                    m.decode(shared[s], step + 40, a, parallel);
                    m.decode(alone[s], step + 40, b, parallel);
                    assertThat(a)
                            .as("sequence %d, step %d after the shared pass", s, step)
                            .isEqualTo(b);
                }
            }
            // Through the scheduler, the failure reaches the faulty sequence's caller (and only its: the others above
            // went on).
            Assertions.assertThatThrownBy(() -> m.decode(shared[1], 5, new float[vocab], parallel))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("injected fault");
        }
    }

    /**
     * Sequence {@code s}: a prompt of 5 + 13 s tokens prefilled in chunks of 32, then {@link #STEPS} decode steps of
     * fixed tokens; odd sequences keep a RazorAttention cache (one FULL head per layer, the others windowed, small
     * enough to evict). Returns the logits after the prompt and after each step.
     */
    private static float[][] run(Transformer m, int s, Parallel parallel, CyclicBarrier start) throws Exception {
        int vocab = m.config().vocabularySize(),
                layers = m.config().blockCount(),
                kvHeads = m.config().kvHeadCount();
        KvCache cache;
        if (s % 2 == 1) {
            boolean[][] retrieval = new boolean[layers][kvHeads];
            for (int l = 0; l < layers; l++) retrieval[l][l % kvHeads] = true;
            cache = m.newCache(256, KvPrecision.F16, KvPolicy.razor(retrieval, new WindowParams(4, 16, 5, true)));
        } else {
            cache = m.newCache(256, s % 4 == 0 ? KvPrecision.F16 : KvPrecision.F32);
        }
        int[] prompt = new int[5 + 13 * s];
        for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 7 + s * 31 + 1) % vocab;
        if (start != null) start.await();
        float[][] out = new float[STEPS + 1][];
        for (int from = 0; from < prompt.length; from += 32)
            out[0] = m.forward(cache, prompt, from, Math.min(32, prompt.length - from), parallel);
        float[] logits = new float[vocab];
        for (int step = 0; step < STEPS; step++) {
            m.decode(cache, (step * 13 + s) % vocab, logits, parallel);
            out[step + 1] = logits.clone();
        }
        return out;
    }
}
