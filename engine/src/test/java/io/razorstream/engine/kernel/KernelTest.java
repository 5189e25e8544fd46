package io.razorstream.engine.kernel;

import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The vectorised WeightMatrix kernels against the scalar definition, for every supported type, on heap and native
 * segments, with column counts that leave vector tails. Also: matvec and matmul (prefill) must give exactly dot()'s
 * numbers, because the engine relies on prefill == decode.
 */
class KernelTest {
    private static final double U = 0x1p-24; // unit roundoff of float

    static final GgmlType[] PLAIN = {GgmlType.F32, GgmlType.F16, GgmlType.BF16};
    static final GgmlType[] BLOCK = {GgmlType.Q8_0, GgmlType.Q4_0};
    static final int[] PLAIN_COLS = {1, 3, 7, 8, 16, 17, 33, 100, 257};
    static final int[] BLOCK_COLS = {32, 64, 96, 160, 288};

    static Stream<Arguments> typesAndCols() {
        List<Arguments> out = new ArrayList<>();
        for (boolean heap : new boolean[] {true, false}) {
            for (GgmlType t : PLAIN) for (int c : PLAIN_COLS) out.add(Arguments.of(t, c, heap));
            for (GgmlType t : BLOCK) for (int c : BLOCK_COLS) out.add(Arguments.of(t, c, heap));
        }
        return out.stream();
    }

    static Stream<Arguments> types() {
        return Stream.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0)
                .map(Arguments::of);
    }

    static float[] gaussian(SplittableRandom rnd, int n, double sigma) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * sigma);
        return x;
    }

    /** Copies bytes into a heap segment (MemorySegment.ofArray) or a native one, as the test asks. */
    static MemorySegment segment(byte[] bytes, boolean heap, Arena arena) {
        if (heap) return MemorySegment.ofArray(bytes);
        MemorySegment s = arena.allocate(bytes.length, 64);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, s, 0, bytes.length);
        return s;
    }

    static WeightMatrix randomMatrix(GgmlType type, int rows, int cols, long seed, boolean heap, Arena arena) {
        float[] w = gaussian(new SplittableRandom(seed), rows * cols, 1.0);
        return WeightMatrix.of(type, segment(Quantizer.quantize(type, w), heap, arena), rows, cols);
    }

    @ParameterizedTest(name = "{0} cols={1} heap={2}")
    @MethodSource("typesAndCols")
    void dotMatchesTheScalarReference(GgmlType type, int cols, boolean heap) {
        try (Arena arena = Arena.ofConfined()) {
            int rows = 5;
            WeightMatrix m = randomMatrix(type, rows, cols, 31L * cols + type.ordinal(), heap, arena);
            SplittableRandom rnd = new SplittableRandom(cols);
            for (int trial = 0; trial < 4; trial++) {
                Activation a = m.prepare(gaussian(rnd, cols, trial == 3 ? 1000 : 1));
                for (int r = 0; r < rows; r++) {
                    float[] w = new float[cols];
                    m.dequantizeRow(r, w, 0);
                    double exact = 0, absSum = 0;
                    for (int i = 0; i < cols; i++) {
                        double p = (double) w[i] * a.effective(i);
                        exact += p;
                        absSum += Math.abs(p);
                    }
                    // The kernel and the reference add the same products in different orders (lanes, FMA,
                    // per-block integer sums for Q8_0/Q4_0). Each has the textbook forward error bound of
                    // float summation, |err| <= (n + c) * u * sum|w_i x_i| (c ~ 4 covers the roundings of the
                    // products and block scales); so each is within that of the exact double sum and the two
                    // within twice that of each other. A dropped or doubled element would be off by about
                    // sum|w_i x_i| / n, far more than (n + 4) * u * sum|w_i x_i| for every n tested.
                    double bound = (cols + 4) * U * absSum + Float.MIN_NORMAL;
                    float got = m.dot(r, a);
                    float ref = m.dotReference(r, a);
                    assertThat(Math.abs(got - exact))
                            .as("%s row %d: dot %s vs exact %s", type, r, got, exact)
                            .isLessThanOrEqualTo(bound);
                    assertThat(Math.abs(ref - exact))
                            .as("%s row %d: reference vs exact", type, r)
                            .isLessThanOrEqualTo(bound);
                    assertThat((double) Math.abs(got - ref)).isLessThanOrEqualTo(2 * bound);
                }
            }
        }
    }

    static Stream<Arguments> matmulCases() {
        List<Arguments> out = new ArrayList<>();
        for (GgmlType t : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0}) {
            int[] colsList = t.blockSize() == 1 ? new int[] {17, 64} : new int[] {96};
            for (int cols : colsList) for (int threads : new int[] {1, 2, 3}) out.add(Arguments.of(t, cols, threads));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} cols={1} threads={2}")
    @MethodSource("matmulCases")
    void matvecAndMatmulEqualDotExactly(GgmlType type, int cols, int threads) {
        // 37 rows: more than one 16-row piece and not a multiple of 16, so the split has a ragged end.
        int rows = 37;
        try (Arena arena = Arena.ofShared();
                Parallel par = new Parallel(threads)) { // shared: read by the pool
            WeightMatrix m = randomMatrix(type, rows, cols, 99 + cols, false, arena);
            SplittableRandom rnd = new SplittableRandom(type.ordinal());
            for (int n : new int[] {1, 3, 4, 5, 8, 9}) {
                Activation[] a = new Activation[n + 2];
                for (int t = 0; t < a.length; t++) a[t] = m.prepare(gaussian(rnd, cols, 2));
                float[][] out = new float[n + 1][rows];
                Arrays.fill(out[n], Float.NaN); // a row matmul must not touch (only n tokens)
                m.matmul(a, n, out, par);
                for (int t = 0; t < n; t++) {
                    float[] vec = new float[rows];
                    m.matvec(a[t], vec, par);
                    for (int r = 0; r < rows; r++) {
                        float d = m.dot(r, a[t]);
                        // bitwise equality: prefill (matmul) and decode (matvec) must agree to the last bit
                        assertThat(Float.floatToRawIntBits(out[t][r]))
                                .as("%s n=%d token %d row %d matmul", type, n, t, r)
                                .isEqualTo(Float.floatToRawIntBits(d));
                        assertThat(Float.floatToRawIntBits(vec[r]))
                                .as("%s token %d row %d matvec", type, t, r)
                                .isEqualTo(Float.floatToRawIntBits(d));
                    }
                }
                for (int r = 0; r < rows; r++) assertThat(out[n][r]).isNaN();
            }
        }
    }

    @ParameterizedTest
    @MethodSource("types")
    void dequantizeRowPicksTheRightRow(GgmlType type) {
        // Row r's bytes start at r * rowBytes: compare with dequantising the whole buffer at once.
        int rows = 6, cols = 64;
        float[] w = gaussian(new SplittableRandom(3), rows * cols, 1);
        byte[] bytes = Quantizer.quantize(type, w);
        WeightMatrix m = WeightMatrix.of(type, MemorySegment.ofArray(bytes), rows, cols);
        float[] all = new float[rows * cols];
        Quantizer.dequantize(type, ByteBuffer.wrap(bytes), 0, all, 0, rows * cols);
        for (int r = 0; r < rows; r++) {
            float[] row = new float[cols + 3];
            m.dequantizeRow(r, row, 3);
            assertThat(Arrays.copyOfRange(row, 3, cols + 3))
                    .containsExactly(Arrays.copyOfRange(all, r * cols, (r + 1) * cols));
        }
        // Plain types store the values themselves (after rounding to the type).
        if (type == GgmlType.F32) assertThat(all).containsExactly(w);
        if (type == GgmlType.F16)
            for (int i = 0; i < w.length; i++) assertThat(all[i]).isEqualTo(Numerics.roundToF16(w[i]));
        if (type == GgmlType.BF16)
            for (int i = 0; i < w.length; i++) assertThat(all[i]).isEqualTo(Numerics.roundToBf16(w[i]));
        assertThat(m.byteSize()).isEqualTo(bytes.length);
    }

    @ParameterizedTest
    @MethodSource("types")
    void prepareRoundsTheInputToTheWeightsDotType(GgmlType type) {
        // llama.cpp rounds activations to the weight's vec_dot type: F16/BF16 inputs, Q8_0 for quantised weights.
        float[] x = gaussian(new SplittableRandom(11), 64, 3);
        WeightMatrix m = WeightMatrix.of(type, MemorySegment.ofArray(new byte[(int) type.bytesFor(64)]), 1, 64);
        Activation a = m.prepare(x);
        for (int i = 0; i < 64; i++) {
            float expected = switch (type) {
                case F32 -> x[i];
                case F16 -> Numerics.roundToF16(x[i]);
                case BF16 -> Numerics.roundToBf16(x[i]);
                default -> a.effective(i);
            };
            assertThat(a.effective(i)).isEqualTo(expected);
            // quantised inputs stay within half a quantisation step (plus the F16 rounding of the scale)
            if (type.blockSize() > 1) {
                float scale = a.scale(i);
                assertThat((double) Math.abs(a.effective(i) - x[i]))
                        .isLessThanOrEqualTo(0.5 * scale + 127 * scale * 0x1p-11 + 1e-6);
            }
        }
    }

    // ---- 16-bit float widening in the vector path --------------------------------------------------

    /** Every finite 16-bit pattern, 64 per row; with one-hot inputs dot() must return each value exactly. */
    private static void assertEveryFiniteHalfWidensExactly(GgmlType type) {
        int cols = 64, rows = 65536 / cols;
        boolean f16 = type == GgmlType.F16;
        ByteBuffer b = ByteBuffer.allocate(65536 * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int h = 0; h < 65536; h++) {
            boolean special = f16 ? (h & 0x7c00) == 0x7c00 : (h & 0x7f80) == 0x7f80;
            b.putShort((short) (special ? 0 : h)); // inf/NaN would poison the other lanes (0 * inf)
        }
        WeightMatrix m = WeightMatrix.of(type, MemorySegment.ofArray(b.array()), rows, cols);
        List<String> wrong = new ArrayList<>();
        for (int j = 0; j < cols; j++) {
            float[] x = new float[cols];
            x[j] = 1f;
            Activation a = m.prepare(x);
            for (int r = 0; r < rows; r++) {
                short h = b.getShort(2 * (r * cols + j));
                float expected = f16 ? Numerics.f16ToFloat(h) : Numerics.bf16ToFloat(h);
                float got = m.dot(r, a);
                if (got != expected && wrong.size() < 20)
                    wrong.add(String.format("0x%04x -> %s, expected %s", h & 0xFFFF, got, expected));
            }
        }
        assertThat(wrong).as(type + " halves widened wrongly").isEmpty();
    }

    @Test
    void f16DotWidensEveryFiniteHalfExactlyIncludingSubnormals() {
        // VectorSupport.halvesToFloats is package-private; this reaches it through HalfMatrix.dot.
        // Subnormal halves (exponent 0) are the case a naive shift-and-rebias conversion gets wrong.
        assertEveryFiniteHalfWidensExactly(GgmlType.F16);
    }

    @Test
    void bf16DotWidensEveryFiniteBf16Exactly() {
        assertEveryFiniteHalfWidensExactly(GgmlType.BF16);
    }

    @Test
    void f16DotOnSubnormalRowsMatchesTheReference() {
        // Rows made only of subnormal halves (|h| < 2^-14), random inputs: vector and scalar paths agree.
        SplittableRandom rnd = new SplittableRandom(8);
        int rows = 4, cols = 67;
        ByteBuffer b = ByteBuffer.allocate(rows * cols * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < rows * cols; i++)
            b.putShort((short) (rnd.nextInt(1, 0x400) | (rnd.nextBoolean() ? 0x8000 : 0)));
        WeightMatrix m = WeightMatrix.of(GgmlType.F16, MemorySegment.ofArray(b.array()), rows, cols);
        Activation a = m.prepare(gaussian(rnd, cols, 1));
        for (int r = 0; r < rows; r++) {
            double exact = 0, abs = 0;
            for (int i = 0; i < cols; i++) {
                double p = (double) Numerics.f16ToFloat(b.getShort(2 * (r * cols + i))) * a.effective(i);
                exact += p;
                abs += Math.abs(p);
            }
            assertThat(abs).isGreaterThan(0);
            assertThat(Math.abs(m.dot(r, a) - exact)).isLessThanOrEqualTo((cols + 4) * U * abs);
        }
    }

    @Test
    void f16DotPropagatesInfinityAndNaN() {
        // A lone inf/NaN weight in the vectorised part of a row must come out as such, not as a finite number.
        short[] specials = {(short) 0x7c00, (short) 0xfc00, (short) 0x7e00, (short) 0x7c01};
        float[] expected = {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.NaN};
        int cols = 32;
        for (int s = 0; s < specials.length; s++) {
            ByteBuffer b = ByteBuffer.allocate(cols * 2).order(ByteOrder.LITTLE_ENDIAN);
            b.putShort(2 * 5, specials[s]);
            WeightMatrix m = WeightMatrix.of(GgmlType.F16, MemorySegment.ofArray(b.array()), 1, cols);
            float[] ones = new float[cols];
            Arrays.fill(ones, 1f);
            float got = m.dot(0, m.prepare(ones));
            if (Float.isNaN(expected[s])) assertThat(got).isNaN();
            else assertThat(got).isEqualTo(expected[s]);
        }
    }

    // ---- construction ---------------------------------------------------------------------------

    @Test
    void ofAcceptsHeapAndNativeSegmentsAndChecksTheirSize() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment nat = arena.allocate(GgmlType.Q8_0.bytesFor(64 * 2));
            assertThat(WeightMatrix.of(GgmlType.Q8_0, nat, 2, 64).rows()).isEqualTo(2);
            assertThat(WeightMatrix.of(GgmlType.F32, MemorySegment.ofArray(new byte[12]), 1, 3)
                            .cols())
                    .isEqualTo(3);
        }
        assertThatThrownBy(() -> WeightMatrix.of(GgmlType.F32, MemorySegment.ofArray(new byte[11]), 1, 3))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> WeightMatrix.of(GgmlType.Q4_0, MemorySegment.ofArray(new byte[18 * 4]), 2, 48))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("48");
        assertThatThrownBy(() -> WeightMatrix.of(GgmlType.Q2_K, MemorySegment.ofArray(new byte[84]), 1, 256))
                .isInstanceOf(UnsupportedOperationException.class)
                .hasMessageContaining("Q2_K");
    }

    /** K-quant rows of random bytes (with sane f16 scales): the kernel equals the scalar definition. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(
            value = GgmlType.class,
            names = {"Q4_K", "Q5_K", "Q6_K"})
    void kQuantDotMatchesTheReference(GgmlType type) {
        int rows = 3, cols = 512;
        byte[] bytes = new byte[(int) type.bytesFor((long) rows * cols)];
        Random r = new Random(7);
        r.nextBytes(bytes);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int blk = 0; blk < rows * cols / 256; blk++) {
            int at = blk * type.blockBytes();
            if (type == GgmlType.Q6_K) {
                b.putShort(at + 208, Numerics.floatToF16(0.01f * (1 + r.nextFloat())));
            } else {
                b.putShort(at, Numerics.floatToF16(0.01f * (1 + r.nextFloat())));
                b.putShort(at + 2, Numerics.floatToF16(0.005f * r.nextFloat()));
            }
        }
        WeightMatrix m = WeightMatrix.of(type, MemorySegment.ofArray(bytes), rows, cols);
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float) r.nextGaussian();
        Activation a = m.prepare(x);
        for (int row = 0; row < rows; row++) {
            float ref = m.dotReference(row, a);
            assertThat(m.dot(row, a)).isCloseTo(ref, Offset.offset(1e-4f * Math.max(1, Math.abs(ref))));
            float[] w = new float[cols];
            m.dequantizeRow(row, w, 0);
            float[] viaQuantizer = new float[cols];
            Quantizer.dequantize(
                    type, ByteBuffer.wrap(bytes), (int) (row * type.bytesFor(cols)), viaQuantizer, 0, cols);
            assertThat(viaQuantizer).isEqualTo(w);
        }
        // Q8_K (the Java tier's form; the native tier's equals it, NativeKernelTest): integer quants in
        // [-128, 127], the largest magnitude at exactly 127
        a = m.prepareJava(x);
        float max = 0;
        for (int i = 0; i < 256; i++) {
            assertThat(a.values()[i])
                    .isEqualTo((float) Math.rint(a.values()[i]))
                    .isBetween(-128f, 127f);
            max = Math.max(max, Math.abs(a.values()[i]));
        }
        assertThat(max).isEqualTo(127f);
    }
}
