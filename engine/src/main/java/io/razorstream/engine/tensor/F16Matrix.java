package io.razorstream.engine.tensor;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.razorstream.engine.tensor.VectorSupport.F;
import static io.razorstream.engine.tensor.VectorSupport.L;
import static io.razorstream.engine.tensor.VectorSupport.LE;

/** F16 weights: as llama.cpp does, the input is rounded to F16 and products are summed in F32. */
public final class F16Matrix extends WeightMatrix {
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    F16Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.F16, data, rows, cols);
    }

    @Override
    public Activation prepare(float[] x) {
        float[] r = new float[cols];
        for (int i = 0; i < cols; i++) r[i] = Numerics.roundToF16(x[i]);
        return new Activation(r, null);
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        long base = row * rowBytes;
        int i = 0;
        if (VectorSupport.ENABLED) {
            for (; i + L <= cols; i += L) VectorSupport.halvesToFloats(data, base + 2L * i).intoArray(out, offset + i);
        }
        for (; i < cols; i++) out[offset + i] = Numerics.f16ToFloat(data.get(SHORT_LE, base + 2L * i));
    }

    @Override
    public float dot(int row, Activation a) {
        float[] x = a.values();
        long base = row * rowBytes;
        int i = 0;
        float sum = 0;
        if (VectorSupport.ENABLED) {
            FloatVector acc = FloatVector.zero(F);
            for (; i + L <= cols; i += L) {
                acc = VectorSupport.halvesToFloats(data, base + 2L * i).fma(FloatVector.fromArray(F, x, i), acc);
            }
            sum = VectorSupport.sum(acc);
        }
        for (; i < cols; i++) sum += Numerics.f16ToFloat(data.get(SHORT_LE, base + 2L * i)) * x[i];
        return sum;
    }
}
