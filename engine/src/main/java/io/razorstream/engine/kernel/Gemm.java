package io.razorstream.engine.kernel;

import jdk.incubator.vector.FloatVector;

import java.util.Arrays;

import static io.razorstream.engine.kernel.VectorSupport.F;
import static io.razorstream.engine.kernel.VectorSupport.L;

/**
 * Matrix times many tokens (prefill) for every weight type: rows are dequantised to floats four at a time (in the order
 * their type's kernel uses, see {@link WeightMatrix#gemmRow}) and multiplied with the tokens' effective inputs in a
 * 4-row x 3-token register tile, so each loaded weight feeds three FMAs and each loaded input four. K is walked in
 * blocks that keep the tile's rows in L1.
 *
 * <p>Numerics: every (row, token) pair accumulates lane-wise over K in the same order whichever tile computes it, so
 * results do not depend on tiling or threads. They are plain float products of dequantised values, not the integer
 * block sums of the quantised dot kernels, so they differ from the token-by-token path (and llama.cpp) by float
 * rounding, ~1e-7 relative.
 */
public final class Gemm {
    /** Batches at least this large take this path; smaller ones use the per-type dot kernels. */
    public static final int MIN_TOKENS = Integer.getInteger("razorstream.gemmMinTokens", 16);

    private static final int K_BLOCK = Integer.getInteger("razorstream.gemmKBlock", 512);

    private Gemm() {}

    static boolean applies(int tokens) {
        return VectorSupport.ENABLED && tokens >= MIN_TOKENS;
    }

    /** out[t][r] = row r . x[t] for rows [from, to) and tokens [0, n). */
    static void multiply(WeightMatrix w, int from, int to, float[][] x, int n, float[][] out) {
        int k = w.cols();
        int kv = k / L * L;
        float[][] rows = new float[4][k];
        float[] acc = new float[12 * L];
        for (int r = from; r < to; r += 4) {
            int nr = Math.min(4, to - r);
            for (int i = 0; i < nr; i++) w.gemmRow(r + i, rows[i]);
            int t = 0;
            if (nr == 4) {
                for (; t < n; t += 3) {
                    // The last one or two tokens repeat in the spare tile slots: the tile is much faster than
                    // the one-token path even with a slot wasted, and each result is the same either way.
                    int t1 = Math.min(t + 1, n - 1), t2 = Math.min(t + 2, n - 1);
                    Arrays.fill(acc, 0f);
                    for (int k0 = 0; k0 < kv; k0 += K_BLOCK) {
                        tile4x3(rows, x[t], x[t1], x[t2], k0, Math.min(kv, k0 + K_BLOCK), acc);
                    }
                    for (int i = 0; i < 4; i++) {
                        for (int j = 0; j < 3 && t + j < n; j++) {
                            out[t + j][r + i] = tail(
                                    VectorSupport.sum(FloatVector.fromArray(F, acc, (3 * i + j) * L)),
                                    rows[i],
                                    x[t + j],
                                    kv,
                                    k);
                        }
                    }
                }
            }
            for (; t < n; t++) {
                for (int i = 0; i < nr; i++) out[t][r + i] = dot(rows[i], x[t], kv, k);
            }
        }
    }

    /** The 4x3 register tile over [k0, k1), continuing the lane sums kept in {@code acc}. */
    private static void tile4x3(float[][] w, float[] x0, float[] x1, float[] x2, int k0, int k1, float[] acc) {
        float[] w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        FloatVector a00 = FloatVector.fromArray(F, acc, 0),
                a01 = FloatVector.fromArray(F, acc, L),
                a02 = FloatVector.fromArray(F, acc, 2 * L);
        FloatVector a10 = FloatVector.fromArray(F, acc, 3 * L),
                a11 = FloatVector.fromArray(F, acc, 4 * L),
                a12 = FloatVector.fromArray(F, acc, 5 * L);
        FloatVector a20 = FloatVector.fromArray(F, acc, 6 * L),
                a21 = FloatVector.fromArray(F, acc, 7 * L),
                a22 = FloatVector.fromArray(F, acc, 8 * L);
        FloatVector a30 = FloatVector.fromArray(F, acc, 9 * L),
                a31 = FloatVector.fromArray(F, acc, 10 * L),
                a32 = FloatVector.fromArray(F, acc, 11 * L);
        // A long induction variable keeps C2 from unrolling this loop: unrolled, the twelve accumulators
        // no longer fit in the 16 vector registers and spill (measured: 29 vs 20 GMAC/s on one AVX2 core).
        for (long kk = k0; kk < k1; kk += L) {
            int k = (int) kk;
            FloatVector y0 = FloatVector.fromArray(F, x0, k),
                    y1 = FloatVector.fromArray(F, x1, k),
                    y2 = FloatVector.fromArray(F, x2, k);
            FloatVector v = FloatVector.fromArray(F, w0, k);
            a00 = v.fma(y0, a00);
            a01 = v.fma(y1, a01);
            a02 = v.fma(y2, a02);
            v = FloatVector.fromArray(F, w1, k);
            a10 = v.fma(y0, a10);
            a11 = v.fma(y1, a11);
            a12 = v.fma(y2, a12);
            v = FloatVector.fromArray(F, w2, k);
            a20 = v.fma(y0, a20);
            a21 = v.fma(y1, a21);
            a22 = v.fma(y2, a22);
            v = FloatVector.fromArray(F, w3, k);
            a30 = v.fma(y0, a30);
            a31 = v.fma(y1, a31);
            a32 = v.fma(y2, a32);
        }
        a00.intoArray(acc, 0);
        a01.intoArray(acc, L);
        a02.intoArray(acc, 2 * L);
        a10.intoArray(acc, 3 * L);
        a11.intoArray(acc, 4 * L);
        a12.intoArray(acc, 5 * L);
        a20.intoArray(acc, 6 * L);
        a21.intoArray(acc, 7 * L);
        a22.intoArray(acc, 8 * L);
        a30.intoArray(acc, 9 * L);
        a31.intoArray(acc, 10 * L);
        a32.intoArray(acc, 11 * L);
    }

    /** One row and one token, accumulated in exactly the order the tile uses. */
    private static float dot(float[] w, float[] x, int kv, int k) {
        FloatVector a = FloatVector.zero(F);
        for (int i = 0; i < kv; i += L) a = FloatVector.fromArray(F, w, i).fma(FloatVector.fromArray(F, x, i), a);
        return tail(VectorSupport.sum(a), w, x, kv, k);
    }

    /** Adds the elements past the last full vector one by one, continuing {@code sum} as the dot kernels do. */
    private static float tail(float sum, float[] w, float[] x, int from, int to) {
        for (int i = from; i < to; i++) sum += w[i] * x[i];
        return sum;
    }
}
