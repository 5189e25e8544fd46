package io.razorstream.engine.kernel;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.razorstream.engine.kernel.Quantizer.QK;
import static io.razorstream.engine.kernel.VectorSupport.LE;
import static io.razorstream.engine.kernel.VectorSupport.SHORT_LE;

/**
 * Q8_0 weights (blocks of 32: F16 scale, 32 int8) against a Q8_0-quantised input, computed as llama.cpp's AVX2 kernel
 * does: lane i of a block's partial sum holds the exact integer sum of elements 4i..4i+3, scaled by the product of both
 * blocks' scales and accumulated in one vector, then summed as hsum_float_8 does. The block's 32 quants are one 256-bit
 * load; byte j of every 4-byte group is sign-extended by shifts, so the input is stored interleaved to match
 * ({@link Activation#interleavedIndex}). Always 8 lanes, also on AVX-512 machines (as llama.cpp).
 */
public final class Q8_0Matrix extends WeightMatrix {
    private static final int BLOCK_BYTES = 34;
    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B32 = ByteVector.SPECIES_256;

    Q8_0Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q8_0, data, rows, cols);
    }

    @Override
    protected Activation prepareJava(float[] x) {
        Activation plain = Quantizer.quantizeActivationQ8(x, cols);
        float[] q = plain.values(), interleaved = new float[cols];
        for (int i = 0; i < cols; i++) interleaved[Activation.interleavedIndex(i)] = q[i];
        return new Activation(interleaved, plain.scales(), true);
    }

    private float scale(long blockOffset) {
        return Numerics.f16ToFloat(data.get(SHORT_LE, blockOffset));
    }

    /** Byte {@code j} (0..3) of each int lane, sign-extended, as floats. */
    private static FloatVector byteOfLanes(IntVector q, int j) {
        IntVector v = j == 3 ? q : q.lanewise(VectorOperators.LSHL, 24 - 8 * j);
        return (FloatVector) v.lanewise(VectorOperators.ASHR, 24).convert(VectorOperators.I2F, 0);
    }

    /** The block's exact per-lane integer sums against interleaved input at {@code i}. */
    private static FloatVector blockSums(IntVector q, float[] x, int i) {
        FloatVector s = byteOfLanes(q, 0).mul(FloatVector.fromArray(F8, x, i));
        s = byteOfLanes(q, 1).fma(FloatVector.fromArray(F8, x, i + 8), s);
        s = byteOfLanes(q, 2).fma(FloatVector.fromArray(F8, x, i + 16), s);
        return byteOfLanes(q, 3).fma(FloatVector.fromArray(F8, x, i + 24), s);
    }

    private IntVector quants(long blockOffset) {
        return ByteVector.fromMemorySegment(B32, data, blockOffset + 2, LE).reinterpretAsInts();
    }

    @Override
    protected float dotJava(int row, Activation a) {
        if (!VectorSupport.ENABLED) return dotScalar(row, a);
        float[] x = a.values();
        float[] xs = a.scales();
        long off = row * rowBytes;
        FloatVector acc = FloatVector.zero(F8);
        for (int b = 0; b < cols / QK; b++, off += BLOCK_BYTES) {
            acc = blockSums(quants(off), x, b * QK).fma(FloatVector.broadcast(F8, scale(off) * xs[b]), acc);
        }
        return VectorSupport.sum8(acc);
    }

    /** Same arithmetic as the vector path, one element at a time (machines without usable vectors). */
    private float dotScalar(int row, Activation a) {
        float[] x = a.values();
        float[] lanes = new float[8];
        long off = row * rowBytes;
        for (int b = 0; b < cols / QK; b++, off += BLOCK_BYTES) {
            float d = scale(off) * a.scales()[b];
            for (int lane = 0; lane < 8; lane++) {
                float s = 0;
                for (int j = 0; j < 4; j++) {
                    s += data.get(ValueLayout.JAVA_BYTE, off + 2 + 4 * lane + j) * x[b * QK + 8 * j + lane];
                }
                lanes[lane] = Math.fma(s, d, lanes[lane]);
            }
        }
        return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
    }

    /** The row dequantised (q * d, exact in float) in the interleaved order of {@link #blockSums}. */
    @Override
    protected void gemmRow(int row, float[] out) {
        if (!VectorSupport.ENABLED) {
            super.gemmRow(row, out);
            return;
        }
        long off = row * rowBytes;
        for (int b = 0; b < cols / QK; b++, off += BLOCK_BYTES) {
            IntVector q = quants(off);
            FloatVector d = FloatVector.broadcast(F8, scale(off));
            for (int j = 0; j < 4; j++) byteOfLanes(q, j).mul(d).intoArray(out, b * QK + 8 * j);
        }
    }

    @Override
    protected void dotMany(int row, Activation[] a, int n, float[] out) {
        int t = 0;
        if (VectorSupport.ENABLED) {
            for (; t + 4 <= n; t += 4) dot4(row, a[t], a[t + 1], a[t + 2], a[t + 3], out, t);
        }
        for (; t < n; t++) out[t] = dotJava(row, a[t]);
    }

    /** Four tokens at once: each block is loaded and widened once and used four times. Same sums as {@link #dot}. */
    private void dot4(int row, Activation a0, Activation a1, Activation a2, Activation a3, float[] out, int t) {
        float[] x0 = a0.values(), x1 = a1.values(), x2 = a2.values(), x3 = a3.values();
        long off = row * rowBytes;
        FloatVector acc0 = FloatVector.zero(F8), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int b = 0; b < cols / QK; b++, off += BLOCK_BYTES) {
            IntVector q = quants(off);
            int i = b * QK;
            FloatVector w0 = byteOfLanes(q, 0), w1 = byteOfLanes(q, 1), w2 = byteOfLanes(q, 2), w3 = byteOfLanes(q, 3);
            float d = scale(off);
            acc0 = sums(w0, w1, w2, w3, x0, i).fma(FloatVector.broadcast(F8, d * a0.scales()[b]), acc0);
            acc1 = sums(w0, w1, w2, w3, x1, i).fma(FloatVector.broadcast(F8, d * a1.scales()[b]), acc1);
            acc2 = sums(w0, w1, w2, w3, x2, i).fma(FloatVector.broadcast(F8, d * a2.scales()[b]), acc2);
            acc3 = sums(w0, w1, w2, w3, x3, i).fma(FloatVector.broadcast(F8, d * a3.scales()[b]), acc3);
        }
        out[t] = VectorSupport.sum8(acc0);
        out[t + 1] = VectorSupport.sum8(acc1);
        out[t + 2] = VectorSupport.sum8(acc2);
        out[t + 3] = VectorSupport.sum8(acc3);
    }

    private static FloatVector sums(FloatVector w0, FloatVector w1, FloatVector w2, FloatVector w3, float[] x, int i) {
        FloatVector s = w0.mul(FloatVector.fromArray(F8, x, i));
        s = w1.fma(FloatVector.fromArray(F8, x, i + 8), s);
        s = w2.fma(FloatVector.fromArray(F8, x, i + 16), s);
        return w3.fma(FloatVector.fromArray(F8, x, i + 24), s);
    }
}
