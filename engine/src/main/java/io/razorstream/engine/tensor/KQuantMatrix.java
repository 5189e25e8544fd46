package io.razorstream.engine.tensor;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;

import static io.razorstream.engine.tensor.KQuants.QK_K;
import static io.razorstream.engine.tensor.VectorSupport.F;
import static io.razorstream.engine.tensor.VectorSupport.L;

/**
 * Q4_K, Q5_K and Q6_K weights (see {@link KQuants}) against a Q8_K-quantised input, as llama.cpp pairs
 * them. Each super-block of the row is decoded to floats and multiplied with the input's integer quants
 * (vectorised), then scaled by the input block's scale.
 */
public final class KQuantMatrix extends WeightMatrix {
    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[QK_K]);

    KQuantMatrix(GgmlType type, MemorySegment data, int rows, int cols) {
        super(type, data, rows, cols);
    }

    @Override
    public Activation prepare(float[] x) {
        return KQuants.quantizeActivationQ8K(x, cols);
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        long off = row * rowBytes;
        for (int b = 0; b < cols / QK_K; b++, off += type.blockBytes()) KQuants.decode(type, data, off, out, offset + b * QK_K);
    }

    @Override
    public float dot(int row, Activation a) {
        float[] w = BLOCK.get();
        float[] x = a.values(), xs = a.scales();
        long off = row * rowBytes;
        float sum = 0;
        for (int b = 0; b < cols / QK_K; b++, off += type.blockBytes()) {
            KQuants.decode(type, data, off, w, 0);
            float s;
            if (VectorSupport.ENABLED) {
                FloatVector acc = FloatVector.zero(F);
                for (int j = 0; j < QK_K; j += L) acc = FloatVector.fromArray(F, w, j).fma(FloatVector.fromArray(F, x, b * QK_K + j), acc);
                s = VectorSupport.sum(acc);
            } else {
                s = 0;
                for (int j = 0; j < QK_K; j++) s += w[j] * x[b * QK_K + j];
            }
            sum += s * xs[b * (QK_K / Quantizer.QK)];
        }
        return sum;
    }
}
