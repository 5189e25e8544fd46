package io.razorstream.engine.sampling;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** Sampler: each filter does what llama.cpp's does, seeds reproduce runs, and the draw has the right law. */
class SamplerTest {

    /** temperature t, no top-k / top-p / min-p / penalty. */
    private static SamplerConfig plain(float temperature, long seed) {
        return new SamplerConfig(temperature, 0, 1f, 0f, 1f, 0, seed);
    }

    private static float[] ln(double... p) {
        float[] l = new float[p.length];
        for (int i = 0; i < p.length; i++) l[i] = (float) Math.log(p[i]);
        return l;
    }

    private static double[] frequencies(Sampler s, float[] logits, int draws) {
        double[] f = new double[logits.length];
        for (int i = 0; i < draws; i++) f[s.sample(logits)] += 1.0 / draws;
        return f;
    }

    @Test
    void greedyIsArgmaxWithTheLowestIdOnTies() {
        Sampler s = new Sampler(SamplerConfig.GREEDY);
        assertThat(s.sample(new float[] {1f, 5f, 5f, 2f})).isEqualTo(1);
        assertThat(s.sample(new float[] {-3f, -1f, -2f})).isEqualTo(1);
        assertThat(s.sample(new float[] {0f, 0f, 0f})).isZero();
        // temperature <= 0 is greedy whatever the seed and the other settings
        Sampler negative = new Sampler(new SamplerConfig(-1f, 40, 0.9f, 0.1f, 1f, 0, 7));
        for (int i = 0; i < 100; i++)
            assertThat(negative.sample(new float[] {1f, 2f, 2f, 1.99f})).isEqualTo(1);
    }

    @Test
    void sampleDoesNotModifyTheLogits() {
        Sampler s = new Sampler(new SamplerConfig(0.8f, 2, 0.9f, 0.05f, 1.3f, 8, 1));
        s.accept(0);
        float[] logits = {3f, 1f, -2f, 0.5f};
        float[] copy = logits.clone();
        s.sample(logits);
        assertThat(logits).containsExactly(copy);
    }

    @Test
    void sameSeedSameSequenceDifferentSeedDifferentSequence() {
        SplittableRandom rnd = new SplittableRandom(3);
        float[][] steps = new float[300][64];
        for (float[] l : steps) for (int i = 0; i < l.length; i++) l[i] = (float) rnd.nextGaussian();
        SamplerConfig c = new SamplerConfig(1f, 0, 1f, 0f, 1f, 0, 42);
        int[] a = run(new Sampler(c), steps), b = run(new Sampler(c), steps);
        int[] other = run(new Sampler(new SamplerConfig(1f, 0, 1f, 0f, 1f, 0, 43)), steps);
        assertThat(a).containsExactly(b);
        assertThat(a).isNotEqualTo(other);
        // and the draws are not degenerate: many different tokens come up
        assertThat(Arrays.stream(a).distinct().count()).isGreaterThan(20);
    }

    private static int[] run(Sampler s, float[][] steps) {
        int[] out = new int[steps.length];
        for (int i = 0; i < steps.length; i++) out[i] = s.sample(steps[i]);
        return out;
    }

    @Test
    void topK1IsArgmaxEvenAtHighTemperature() {
        Sampler s = new Sampler(new SamplerConfig(100f, 1, 1f, 0f, 1f, 0, 5));
        float[] logits = {0.1f, 0.3f, 0.2999f, -4f, 0.3f};
        for (int i = 0; i < 2000; i++) assertThat(s.sample(logits)).isEqualTo(1);
    }

    @Test
    void topKKeepsTheKBest() {
        // k = 2 of p = [0.5, 0.3, 0.2]: renormalised to [0.625, 0.375], token 2 never drawn
        double[] f = frequencies(new Sampler(new SamplerConfig(1f, 2, 1f, 0f, 1f, 0, 11)), ln(0.5, 0.3, 0.2), 20000);
        assertThat(f[2]).isZero();
        assertThat(f[0]).isCloseTo(0.625, within(0.02));
    }

    @Test
    void smallTopPKeepsOnlyTheTopToken() {
        Sampler s = new Sampler(new SamplerConfig(1.5f, 0, 0.01f, 0f, 1f, 0, 9));
        float[] logits = ln(0.2, 0.25, 0.2, 0.15, 0.2);
        for (int i = 0; i < 2000; i++) assertThat(s.sample(logits)).isEqualTo(1);
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingP() {
        // p = [0.5, 0.3, 0.2], top-p 0.75: 0.5 < 0.75 <= 0.8, so tokens 0 and 1 remain
        double[] f = frequencies(new Sampler(new SamplerConfig(1f, 0, 0.75f, 0f, 1f, 0, 13)), ln(0.5, 0.3, 0.2), 20000);
        assertThat(f[2]).isZero();
        assertThat(f[1]).isCloseTo(0.375, within(0.02));
    }

    @Test
    void minPDropsTokensBelowAFractionOfTheTopOne() {
        // p = [0.5, 0.3, 0.2]: min-p 0.5 keeps p >= 0.25 (tokens 0, 1); min-p 0.7 keeps only token 0
        double[] f = frequencies(new Sampler(new SamplerConfig(1f, 0, 1f, 0.5f, 1f, 0, 17)), ln(0.5, 0.3, 0.2), 20000);
        assertThat(f[2]).isZero();
        assertThat(f[1]).isCloseTo(0.375, within(0.02));
        Sampler strict = new Sampler(new SamplerConfig(1f, 0, 1f, 0.7f, 1f, 0, 17));
        for (int i = 0; i < 2000; i++)
            assertThat(strict.sample(ln(0.5, 0.3, 0.2))).isZero();
    }

    @Test
    void repetitionPenaltyChangesTheGreedyChoice() {
        float[] logits = {2.0f, 1.9f, 0.5f};
        assertThat(new Sampler(new SamplerConfig(0f, 0, 1f, 0f, 1.5f, 64, 0)).sample(logits))
                .isZero();
        Sampler penalised = new Sampler(new SamplerConfig(0f, 0, 1f, 0f, 1.5f, 64, 0));
        penalised.accept(0); // token 0 was seen: 2.0 / 1.5 = 1.33 < 1.9
        assertThat(penalised.sample(logits)).isEqualTo(1);
        // negative logits are multiplied (made more negative), not divided
        Sampler negative = new Sampler(new SamplerConfig(0f, 0, 1f, 0f, 1.5f, 64, 0));
        negative.accept(0);
        assertThat(negative.sample(new float[] {-1.0f, -1.2f})).isEqualTo(1); // -1.5 < -1.2
        // a token seen several times is penalised once (as llama.cpp's repeat penalty)
        Sampler twice = new Sampler(new SamplerConfig(0f, 0, 1f, 0f, 1.5f, 64, 0));
        twice.accept(0);
        twice.accept(0);
        assertThat(twice.sample(new float[] {2.0f, 1.2f})).isZero(); // 1.33 > 1.2; twice would be 0.89
    }

    @Test
    void repetitionPenaltyOnlyLooksAtTheLastNTokens() {
        Sampler s = new Sampler(new SamplerConfig(0f, 0, 1f, 0f, 1.5f, 2, 0));
        s.accept(0);
        s.accept(2);
        s.accept(2); // token 0 has left the 2-token window
        assertThat(s.sample(new float[] {2.0f, 1.9f, 0.5f})).isZero();
        Sampler none = new Sampler(new SamplerConfig(0f, 0, 1f, 0f, 1.5f, 0, 0));
        none.accept(0); // repeat-last-n 0: no window, no penalty
        assertThat(none.sample(new float[] {2.0f, 1.9f, 0.5f})).isZero();
    }

    @Test
    void repetitionPenaltyLowersTheChanceOfARepeatedToken() {
        float[] logits = ln(0.5, 0.3, 0.2);
        double before = frequencies(new Sampler(new SamplerConfig(1f, 0, 1f, 0f, 1.3f, 64, 21)), logits, 20000)[2];
        Sampler p = new Sampler(new SamplerConfig(1f, 0, 1f, 0f, 1.3f, 64, 21));
        p.accept(2);
        double after = frequencies(p, logits, 20000)[2];
        // ln 0.2 * 1.3: p2 becomes 0.2^1.3 / (0.5 + 0.3 + 0.2^1.3) = 0.1236 / 0.9236 = 0.134
        assertThat(after).isLessThan(before - 0.04).isCloseTo(0.134, within(0.02));
    }

    @Test
    void drawFollowsTheSoftmaxAtTemperatureOne() {
        // 20000 draws: the standard deviation of a frequency is at most sqrt(0.25/20000) = 0.0035, so
        // 0.02 is more than 5 sigma: a correct sampler fails this with probability < 1e-6 (and the seed is fixed).
        double[] f = frequencies(new Sampler(plain(1f, 12345)), ln(0.5, 0.3, 0.2), 20000);
        assertThat(f[0]).isCloseTo(0.5, within(0.02));
        assertThat(f[1]).isCloseTo(0.3, within(0.02));
        assertThat(f[2]).isCloseTo(0.2, within(0.02));
    }

    @Test
    void temperatureDividesTheLogits() {
        // at temperature 2, p_i ~ sqrt(p_i): [0.7071, 0.5477, 0.4472] / 1.7020 = [0.4155, 0.3218, 0.2628]
        double[] f = frequencies(new Sampler(plain(2f, 777)), ln(0.5, 0.3, 0.2), 20000);
        assertThat(f[0]).isCloseTo(0.4155, within(0.02));
        assertThat(f[2]).isCloseTo(0.2628, within(0.02));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
    void configRejectsInvalidValues(int which) {
        Runnable make = switch (which) {
            case 0 -> () -> new SamplerConfig(1f, 0, 0f, 0f, 1f, 0, 0); // top-p 0
            case 1 -> () -> new SamplerConfig(1f, 0, -0.5f, 0f, 1f, 0, 0); // top-p negative
            case 2 -> () -> new SamplerConfig(1f, 0, 1.01f, 0f, 1f, 0, 0); // top-p > 1
            case 3 -> () -> new SamplerConfig(1f, 0, Float.NaN, 0f, 1f, 0, 0); // top-p NaN
            case 4 -> () -> new SamplerConfig(1f, 0, 1f, -0.01f, 1f, 0, 0); // min-p negative
            case 5 -> () -> new SamplerConfig(1f, 0, 1f, 1.5f, 1f, 0, 0); // min-p > 1
            case 6 -> () -> new SamplerConfig(1f, 0, 1f, Float.NaN, 1f, 0, 0); // min-p NaN
            case 7 -> () -> new SamplerConfig(1f, 0, 1f, 0f, 0f, 0, 0); // penalty 0
            case 8 -> () -> new SamplerConfig(1f, 0, 1f, 0f, -1f, 0, 0); // penalty negative
            case 9 -> () -> new SamplerConfig(1f, 0, 1f, 0f, Float.NaN, 0, 0); // penalty NaN
            case 10 -> () -> new SamplerConfig(1f, 0, 1f, 0f, 1f, -1, 0); // repeat-last-n negative
            case 11 -> () -> new SamplerConfig(Float.NaN, 0, 1f, 0f, 1f, 0, 0); // temperature NaN
            default -> () -> new SamplerConfig(1f, 0, 1f, 0f, 1f, Integer.MIN_VALUE, 0);
        };
        assertThatThrownBy(make::run).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void configAcceptsTheBoundaries() {
        assertThatCode(() -> {
                    new SamplerConfig(0f, -1, 1f, 0f, 1f, 0, 0); // greedy, top-k disabled by a negative value
                    new SamplerConfig(1f, 0, 1f, 1f, 1f, 0, 0); // min-p 1
                    new SamplerConfig(1f, 0, Float.MIN_VALUE, 0f, 0.5f, 0, 0);
                })
                .doesNotThrowAnyException();
        assertThat(SamplerConfig.GREEDY.greedy()).isTrue();
        assertThat(SamplerConfig.DEFAULT.greedy()).isFalse();
    }
}
