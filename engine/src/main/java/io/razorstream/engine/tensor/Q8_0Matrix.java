package io.razorstream.engine.tensor;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.razorstream.engine.tensor.Quantizer.QK;
import static io.razorstream.engine.tensor.VectorSupport.F;
import static io.razorstream.engine.tensor.VectorSupport.L;
import static io.razorstream.engine.tensor.VectorSupport.LE;

/**
 * Q8_0 weights (blocks of 32: F16 scale, 32 int8) against a Q8_0-quantised input, as llama.cpp computes
 * it: within a block the products of integers are summed exactly (integer-valued floats stay exact below
 * 2^24), then scaled by the product of both blocks' scales.
 */
public final class Q8_0Matrix extends WeightMatrix {
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final int BLOCK_BYTES = 34;

    Q8_0Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q8_0, data, rows, cols);
    }

    @Override
    public Activation prepare(float[] x) {
        return Quantizer.quantizeActivationQ8(x, cols);
    }

    private float scale(long blockOffset) {
        return Numerics.f16ToFloat(data.get(SHORT_LE, blockOffset));
    }

    @Override
    public float dot(int row, Activation a) {
        if (!VectorSupport.ENABLED) return dotScalar(row, a);
        float[] x = a.values();
        float[] xs = a.scales();
        long off = row * rowBytes;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < cols / QK; b++, off += BLOCK_BYTES) {
            FloatVector s = FloatVector.zero(F);
            for (int k = 0; k < QK; k += L) {
                s = VectorSupport.bytesToFloats(data, off + 2 + k).fma(FloatVector.fromArray(F, x, b * QK + k), s);
            }
            acc = s.fma(FloatVector.broadcast(F, scale(off) * xs[b]), acc);
        }
        return VectorSupport.sum(acc);
    }

    private float dotScalar(int row, Activation a) {
        float[] x = a.values();
        long off = row * rowBytes;
        float sum = 0;
        for (int b = 0; b < cols / QK; b++, off += BLOCK_BYTES) {
            float s = 0;
            for (int k = 0; k < QK; k++) s += data.get(ValueLayout.JAVA_BYTE, off + 2 + k) * x[b * QK + k];
            sum += s * scale(off) * a.scales()[b];
        }
        return sum;
    }

    @Override
    protected void dotMany(int row, Activation[] a, int n, float[] out) {
        int t = 0;
        if (VectorSupport.ENABLED) {
            for (; t + 4 <= n; t += 4) dot4(row, a[t], a[t + 1], a[t + 2], a[t + 3], out, t);
        }
        for (; t < n; t++) out[t] = dot(row, a[t]);
    }

    /** Four tokens at once: each weight chunk is widened once and used four times. Same sums as {@link #dot}. */
    private void dot4(int row, Activation a0, Activation a1, Activation a2, Activation a3, float[] out, int t) {
        float[] x0 = a0.values(), x1 = a1.values(), x2 = a2.values(), x3 = a3.values();
        long off = row * rowBytes;
        FloatVector acc0 = FloatVector.zero(F), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int b = 0; b < cols / QK; b++, off += BLOCK_BYTES) {
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int k = 0; k < QK; k += L) {
                FloatVector w = VectorSupport.bytesToFloats(data, off + 2 + k);
                int i = b * QK + k;
                s0 = w.fma(FloatVector.fromArray(F, x0, i), s0);
                s1 = w.fma(FloatVector.fromArray(F, x1, i), s1);
                s2 = w.fma(FloatVector.fromArray(F, x2, i), s2);
                s3 = w.fma(FloatVector.fromArray(F, x3, i), s3);
            }
            float d = scale(off);
            acc0 = s0.fma(FloatVector.broadcast(F, d * a0.scales()[b]), acc0);
            acc1 = s1.fma(FloatVector.broadcast(F, d * a1.scales()[b]), acc1);
            acc2 = s2.fma(FloatVector.broadcast(F, d * a2.scales()[b]), acc2);
            acc3 = s3.fma(FloatVector.broadcast(F, d * a3.scales()[b]), acc3);
        }
        out[t] = VectorSupport.sum(acc0);
        out[t + 1] = VectorSupport.sum(acc1);
        out[t + 2] = VectorSupport.sum(acc2);
        out[t + 3] = VectorSupport.sum(acc3);
    }
}
