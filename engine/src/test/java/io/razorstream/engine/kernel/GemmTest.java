package io.razorstream.engine.kernel;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The GEMM prefill path (batches of >= {@link Gemm#MIN_TOKENS}) against the per-token dot kernels, on shapes that reach
 * its edges: row counts that are not a multiple of its 4-row tile, token counts that are not a multiple of its 3-token
 * tile, column counts with a scalar tail, several threads.
 */
class GemmTest {

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (int n : new int[] {Gemm.MIN_TOKENS, Gemm.MIN_TOKENS + 1, Gemm.MIN_TOKENS + 2, 33}) {
            for (GgmlType t : KernelTest.PLAIN)
                for (int cols : new int[] {8, 33, 257, 1100}) out.add(Arguments.of(t, cols, n));
            for (GgmlType t : KernelTest.BLOCK)
                for (int cols : new int[] {32, 96, 1088}) out.add(Arguments.of(t, cols, n));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} cols={1} tokens={2}")
    @MethodSource("cases")
    void gemmAgreesWithTheDotKernels(GgmlType type, int cols, int n) {
        int rows = 37;
        try (Arena arena = Arena.ofShared();
                Parallel parallel = new Parallel(2)) {
            WeightMatrix m = KernelTest.randomMatrix(type, rows, cols, 7L * cols + n, false, arena);
            SplittableRandom rnd = new SplittableRandom(cols + 31L * n);
            Activation[] a = new Activation[n];
            for (int t = 0; t < n; t++) a[t] = m.prepare(KernelTest.gaussian(rnd, cols, 1));
            float[][] out = new float[n][rows];
            m.matmul(a, n, out, parallel);
            for (int t = 0; t < n; t++) {
                for (int r = 0; r < rows; r++) {
                    float dot = m.dot(r, a[t]);
                    if (type == GgmlType.Q8_0 || type == GgmlType.Q4_0) {
                        // Float products of dequantised values vs exact integer block sums: the float
                        // summation error bound, (cols + 4) units of roundoff of the sum of |products|.
                        double bound = 0;
                        float[] w = new float[cols];
                        m.dequantizeRow(r, w, 0);
                        for (int i = 0; i < cols; i++) bound += Math.abs(w[i] * a[t].effective(i));
                        assertThat((double) Math.abs(out[t][r] - dot))
                                .as("row %d token %d", r, t)
                                .isLessThanOrEqualTo((cols + 4) * 0x1p-24 * bound);
                    } else {
                        // Same products in the same order: the same bits.
                        assertThat(out[t][r]).as("row %d token %d", r, t).isEqualTo(dot);
                    }
                }
            }
        }
    }
}
