package io.razorstream.engine.attention;

import io.razorstream.engine.kernel.NativeKernels;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** The window head of RazorAttention: eviction, the compensation token, and attention over both. */
class WindowHeadTest {
    static final int HS = 16;

    static float[] random(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** Plain softmax attention in double over explicit (key, value, multiplicity) entries. */
    static double[] reference(float[] q, float scale, List<float[]> keys, List<float[]> values, List<Double> copies) {
        double max = Double.NEGATIVE_INFINITY;
        double[] s = new double[keys.size()];
        for (int i = 0; i < s.length; i++) {
            double dot = 0;
            for (int d = 0; d < HS; d++) dot += (double) q[d] * keys.get(i)[d];
            s[i] = dot * scale;
            max = Math.max(max, s[i]);
        }
        double sum = 0;
        double[] out = new double[HS];
        for (int i = 0; i < s.length; i++) {
            double w = copies.get(i) * Math.exp(s[i] - max);
            sum += w;
            for (int d = 0; d < HS; d++) out[d] += w * values.get(i)[d];
        }
        for (int d = 0; d < HS; d++) out[d] /= sum;
        return out;
    }

    @ParameterizedTest(name = "{0} tokens, sinks {1}, window {2}")
    @CsvSource({"100, 4, 8", "13, 4, 8", "12, 4, 8", "300, 0, 32", "50, 4, 1"})
    void attentionEqualsFullAttentionOverSinksWindowAndNCopiesOfTheMeans(int tokens, int sinks, int window) {
        SplittableRandom r = new SplittableRandom(tokens * 31L + window);
        WindowHead head = new WindowHead(HS, new WindowParams(sinks, window, 1_000_000));
        List<float[]> ks = new ArrayList<>(), vs = new ArrayList<>();
        for (int t = 0; t < tokens; t++) {
            float[] k = random(r, HS), v = random(r, HS);
            ks.add(k);
            vs.add(v);
            head.append(k, 0, v, 0);
        }
        int kept = Math.min(tokens, sinks + window);
        int evicted = tokens - kept;
        assertThat(head.keptCount()).isEqualTo(kept);
        assertThat(head.evictedCount()).isEqualTo(evicted);

        // The explicit equivalent: the sinks, the window, and n copies of the evicted tokens' means.
        List<float[]> keys = new ArrayList<>(), values = new ArrayList<>();
        List<Double> copies = new ArrayList<>();
        for (int t = 0; t < Math.min(sinks, tokens); t++) {
            keys.add(ks.get(t));
            values.add(vs.get(t));
            copies.add(1.0);
        }
        for (int t = Math.max(sinks, tokens - window); t < tokens; t++) {
            keys.add(ks.get(t));
            values.add(vs.get(t));
            copies.add(1.0);
        }
        if (evicted > 0) {
            float[] mk = new float[HS], mv = new float[HS];
            for (int t = sinks; t < sinks + evicted; t++) {
                for (int d = 0; d < HS; d++) {
                    mk[d] += ks.get(t)[d] / evicted;
                    mv[d] += vs.get(t)[d] / evicted;
                }
            }
            keys.add(mk);
            values.add(mv);
            copies.add((double) evicted);
        }
        float scale = 0.25f;
        for (int trial = 0; trial < 5; trial++) {
            float[] q = random(r, HS);
            float[] out = new float[HS];
            head.attend(q, 0, Scores.scaled(scale), out, 0);
            double[] expected = reference(q, scale, keys, values, copies);
            for (int d = 0; d < HS; d++) assertThat((double) out[d]).isCloseTo(expected[d], Offset.offset(2e-5));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 4})
    void theCompensationSumsAreExactlyTheEvictedTokens(int sinks) {
        SplittableRandom r = new SplittableRandom(sinks);
        WindowHead head = new WindowHead(HS, new WindowParams(sinks, 16, 4));
        List<float[]> ks = new ArrayList<>(), vs = new ArrayList<>();
        for (int t = 0; t < 500; t++) {
            float[] k = random(r, HS), v = random(r, HS);
            ks.add(k);
            vs.add(v);
            head.append(k, 0, v, 0);
        }
        // Oldest first, as they left the window: the same float additions in the same order.
        float[] sk = new float[HS], sv = new float[HS];
        for (int t = sinks; t < sinks + head.evictedCount(); t++) {
            for (int d = 0; d < HS; d++) {
                sk[d] += ks.get(t)[d];
                sv[d] += vs.get(t)[d];
            }
        }
        assertThat(head.evictedCount()).isEqualTo(500 - sinks - 500 / 4);
        assertThat(head.sumKeys()).containsExactly(sk);
        assertThat(head.sumValues()).containsExactly(sv);
        // The kept window is the newest L tokens, in order.
        float[] key = new float[HS];
        head.keptKey(head.keptCount() - 1, key, 0);
        assertThat(key).containsExactly(ks.get(499));
        head.keptKey(sinks, key, 0);
        assertThat(key).containsExactly(ks.get(500 - 500 / 4));
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void neverHoldsMoreThanSinksPlusWindowPlusOne(int seed) {
        SplittableRandom r = new SplittableRandom(seed);
        WindowParams p = new WindowParams(r.nextInt(6), 1 + r.nextInt(40), 1 + r.nextInt(8));
        WindowHead head = new WindowHead(HS, p);
        HeadSpec spec = new HeadSpec.Window(p);
        float[] k = random(r, HS), v = random(r, HS);
        for (int t = 1; t <= 3000; t++) {
            head.append(k, 0, v, 0);
            assertThat((long) head.entries()).as("%s after %d tokens", p, t).isLessThanOrEqualTo(p.maxEntries(t));
            assertThat(head.keptCount()).isEqualTo((int) Math.min(t, p.sinks() + (long) p.window(t)));
            assertThat(head.keptCount() + head.evictedCount()).isEqualTo(t);
            assertThat(spec.kept(t, -1))
                    .as("the spec's formula after %d tokens", t)
                    .isEqualTo(head.keptCount());
            assertThat(spec.entries(t, -1))
                    .as("the spec's formula after %d tokens", t)
                    .isEqualTo(head.entries());
        }
        // Exact size at fp16: kept keys and values, plus the fp32 sums and the count once anything was folded.
        assertThat(spec.bytes(3000, -1, HS, 2 * HS))
                .isEqualTo((long) head.keptCount() * HS * 2 * 2 + (head.evictedCount() > 0 ? HS * 2L * 4 + 8 : 0));
    }

    @org.junit.jupiter.api.Test
    void withoutCompensationEvictedTokensAreDroppedAndAttentionCoversOnlySinksAndWindow() {
        SplittableRandom r = new SplittableRandom(9);
        WindowParams p = new WindowParams(2, 5, 1_000_000).withoutCompensation();
        WindowHead head = new WindowHead(HS, p);
        List<float[]> ks = new ArrayList<>(), vs = new ArrayList<>();
        for (int t = 0; t < 40; t++) {
            float[] k = random(r, HS), v = random(r, HS);
            ks.add(k);
            vs.add(v);
            head.append(k, 0, v, 0);
            assertThat((long) head.entries()).isLessThanOrEqualTo(p.maxEntries(t + 1));
        }
        assertThat(head.evictedCount()).isZero();
        assertThat(head.entries()).isEqualTo(2 + 5);
        List<float[]> keys = new ArrayList<>(List.of(ks.get(0), ks.get(1))),
                values = new ArrayList<>(List.of(vs.get(0), vs.get(1)));
        keys.addAll(ks.subList(35, 40));
        values.addAll(vs.subList(35, 40));
        float[] q = random(r, HS), out = new float[HS];
        head.attend(q, 0, Scores.scaled(0.3f), out, 0);
        double[] expected = reference(q, 0.3f, keys, values, Collections.nCopies(keys.size(), 1.0));
        for (int d = 0; d < HS; d++) assertThat((double) out[d]).isCloseTo(expected[d], Offset.offset(2e-5));
    }

    /**
     * The native tier's group attention over a window head equals the Java tier's per-head attention (the same
     * definition; float accuracy without rounding, one F16 step of a probability with it), through hundreds of appends:
     * sinks filling, the window sliding, its buffer moving back to row 0 and doubling, the compensation token growing;
     * and for a model's sliding window (no sinks, no compensation).
     */
    @ParameterizedTest(name = "sinks={0} window={1} compensate={2}")
    @CsvSource({"2, 7, true", "0, 5, false", "4, 64, true"})
    void nativeGroupAttentionEqualsTheJavaTiers(int sinks, int window, boolean compensate) {
        Assumptions.assumeTrue(NativeKernels.available(), "the native kernel tier is not built here");
        int hs = 32, group = 3, tokens = 300;
        WindowParams params = compensate
                ? new WindowParams(sinks, window, 1000)
                : new WindowParams(sinks, window, 1000).withoutCompensation();
        WindowHead head = new WindowHead(hs, params);
        SplittableRandom r = new SplittableRandom(sinks * 31L + window);
        for (int t = 0; t < tokens; t++) {
            head.append(random(r, hs), 0, random(r, hs), 0);
            float[] q = random(r, group * hs);
            for (boolean round : new boolean[] {false, true}) {
                Scores scores = new Scores(0.3f, 0, round);
                float[] javaOut = new float[group * hs], nativeOut = new float[group * hs];
                for (int g = 0; g < group; g++)
                    head.attend(Arrays.copyOfRange(q, g * hs, (g + 1) * hs), 0, scores, javaOut, g * hs);
                head.attendNative(
                        MemorySegment.ofArray(q),
                        group,
                        scores,
                        MemorySegment.ofArray(new float[group * head.entries()]),
                        MemorySegment.ofArray(nativeOut),
                        0);
                for (int i = 0; i < group * hs; i++) {
                    assertThat(nativeOut[i])
                            .as("token %d, round %s, element %d", t, round, i)
                            .isCloseTo(javaOut[i], Offset.offset(round ? 3e-3f : 2e-5f));
                }
            }
            head.endToken();
        }
        assertThat(head.evictedCount()).isEqualTo(compensate ? tokens - sinks - window : 0);
    }
}
