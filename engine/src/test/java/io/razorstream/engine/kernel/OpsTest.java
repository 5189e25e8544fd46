package io.razorstream.engine.kernel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** Ops (vectorised where it pays) against plain loops / double-precision formulas, on odd lengths and offsets. */
class OpsTest {
    private static final double U = 0x1p-24;

    static float[] gaussian(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257, 1000})
    void dotMatchesAPlainLoop(int n) {
        SplittableRandom rnd = new SplittableRandom(n);
        int aOff = 3, bOff = 5; // offsets, so lanes are misaligned with the arrays' starts
        float[] a = gaussian(rnd, n + aOff + 4), b = gaussian(rnd, n + bOff + 2);
        double exact = 0, abs = 0;
        float plain = 0;
        for (int i = 0; i < n; i++) {
            exact += (double) a[aOff + i] * b[bOff + i];
            abs += Math.abs((double) a[aOff + i] * b[bOff + i]);
            plain += a[aOff + i] * b[bOff + i];
        }
        float got = Ops.dot(a, aOff, b, bOff, n);
        // Both sum the same products in different orders: each within (n+1)u * sum|a_i b_i| of the
        // exact sum (standard recursive-summation bound); an element dropped or read from the wrong
        // offset would be off by ~|a_i b_i|, far beyond that.
        double bound = (n + 1) * U * abs;
        assertThat(Math.abs(got - exact)).isLessThanOrEqualTo(bound);
        assertThat(Math.abs(plain - exact)).isLessThanOrEqualTo(bound);
        if (n == 0) assertThat(got).isZero();
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 3, 7, 8, 9, 17, 33, 100, 257})
    void axpyMatchesAPlainLoopAndTouchesOnlyItsRange(int n) {
        SplittableRandom rnd = new SplittableRandom(100 + n);
        int outOff = 2, xOff = 7;
        float w = (float) rnd.nextGaussian();
        float[] out = gaussian(rnd, n + outOff + 5), x = gaussian(rnd, n + xOff + 1);
        float[] before = out.clone();
        Ops.axpy(out, outOff, w, x, xOff, n);
        for (int i = 0; i < out.length; i++) {
            if (i < outOff || i >= outOff + n) {
                assertThat(out[i]).as("outside the range, index %d", i).isEqualTo(before[i]);
                continue;
            }
            double exact = before[i] + (double) w * x[xOff + i - outOff];
            // FMA (one rounding) or multiply-then-add (two): both within 2u(|out| + |w x|) of exact.
            double bound = 2 * U * (Math.abs(before[i]) + Math.abs((double) w * x[xOff + i - outOff]));
            assertThat(Math.abs(out[i] - exact)).as("index %d", i).isLessThanOrEqualTo(bound);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 5, 32, 1000, 32000})
    void softmaxIsADistributionWithTheRightRatios(int n) {
        SplittableRandom rnd = new SplittableRandom(n);
        float[] x = new float[n + 3];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * 5 + 300); // large: needs the max shift
        float[] orig = x.clone();
        Ops.softmax(x, n);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            assertThat(x[i]).isBetween(0f, 1f);
            sum += x[i];
        }
        // each p_i carries a few roundings (exp, float cast, scaling): relative error ~3u each
        assertThat(sum).isCloseTo(1.0, within(1e-6));
        for (int i = n; i < x.length; i++) assertThat(x[i]).isEqualTo(orig[i]); // beyond n untouched
        // p_i / p_0 = exp(x_i - x_0)
        for (int i = 1; i < Math.min(n, 50); i++) {
            double ratio = Math.exp((double) orig[i] - orig[0]);
            if (ratio > 1e-20 && ratio < 1e20) assertThat(x[i] / (double) x[0]).isCloseTo(ratio, within(ratio * 1e-5));
        }
    }

    @Test
    void softmaxHandlesNegativeInfinity() {
        // masked attention scores are -inf: they must get probability 0, not NaN
        float[] x = {Float.NEGATIVE_INFINITY, 1f, Float.NEGATIVE_INFINITY, 1f};
        Ops.softmax(x, 4);
        assertThat(x).containsExactly(0f, 0.5f, 0f, 0.5f);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 8, 17, 64, 257, 4096})
    void rmsNormMatchesADoublePrecisionFormula(int n) {
        SplittableRandom rnd = new SplittableRandom(n);
        float[] x = gaussian(rnd, n), w = gaussian(rnd, n);
        for (int i = 0; i < n; i++) x[i] *= 1e-3f; // small values: eps matters a little
        float eps = 1e-5f;
        float[] out = new float[n];
        Ops.rmsNorm(out, x, w, eps);
        double ss = 0;
        for (float v : x) ss += (double) v * v;
        double scale = 1 / Math.sqrt(ss / n + eps);
        for (int i = 0; i < n; i++) {
            double exact = x[i] * scale * w[i];
            // a handful of float roundings (square, mean, sqrt, divide, two products): 1e-6 relative is ~16u
            assertThat((double) out[i]).as("index %d", i).isCloseTo(exact, within(1e-6 * Math.abs(exact) + 1e-30));
        }
    }

    @Test
    void rmsNormCanWorkInPlace() {
        float[] x = {3f, 4f}, w = {1f, 2f};
        Ops.rmsNorm(x, x, w, 0f);
        // rms of (3, 4) is sqrt(12.5)
        assertThat(x[0]).isCloseTo((float) (3 / Math.sqrt(12.5)), within(1e-6f));
        assertThat(x[1]).isCloseTo((float) (8 / Math.sqrt(12.5)), within(1e-6f));
    }

    @Test
    void swigluAndAdd() {
        float[] g = {0f, 1f, -2f, 20f}, up = {5f, 2f, 3f, 0.5f};
        Ops.swiglu(g, up, 4);
        double[] expected = {0, 1 / (1 + Math.exp(-1)) * 2, -2 / (1 + Math.exp(2)) * 3, 20 / (1 + Math.exp(-20)) * 0.5};
        for (int i = 0; i < 4; i++) assertThat((double) g[i]).isCloseTo(expected[i], within(1e-6));
        float[] acc = {1f, 2f, 3f};
        Ops.add(acc, new float[] {10f, 20f, 30f}, 2);
        assertThat(acc).containsExactly(11f, 22f, 3f);
    }

    @Test
    void argmaxTakesTheLowestIndexOnTies() {
        assertThat(Ops.argmax(new float[] {1f, 3f, 2f, 3f})).isEqualTo(1);
        assertThat(Ops.argmax(new float[] {-5f})).isZero();
        float[] same = new float[10];
        Arrays.fill(same, 7f);
        assertThat(Ops.argmax(same)).isZero();
        assertThat(Ops.argmax(new float[] {Float.NEGATIVE_INFINITY, -1e30f})).isEqualTo(1);
    }
}
