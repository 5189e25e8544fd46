package io.razorstream.engine.tensor;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.razorstream.engine.tensor.VectorSupport.F;
import static io.razorstream.engine.tensor.VectorSupport.L;
import static io.razorstream.engine.tensor.VectorSupport.LE;

/** F32 weights: the input is used as it is. */
public final class F32Matrix extends WeightMatrix {
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    F32Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.F32, data, rows, cols);
    }

    @Override
    public Activation prepare(float[] x) {
        return new Activation(x, null);
    }

    @Override
    public float dot(int row, Activation a) {
        float[] x = a.values();
        long base = row * rowBytes;
        int i = 0;
        float sum = 0;
        if (VectorSupport.ENABLED) {
            FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
            for (; i + 2 * L <= cols; i += 2 * L) {
                acc0 = FloatVector.fromMemorySegment(F, data, base + 4L * i, LE).fma(FloatVector.fromArray(F, x, i), acc0);
                acc1 = FloatVector.fromMemorySegment(F, data, base + 4L * (i + L), LE).fma(FloatVector.fromArray(F, x, i + L), acc1);
            }
            for (; i + L <= cols; i += L) {
                acc0 = FloatVector.fromMemorySegment(F, data, base + 4L * i, LE).fma(FloatVector.fromArray(F, x, i), acc0);
            }
            sum = VectorSupport.sum(acc0.add(acc1));
        }
        for (; i < cols; i++) sum += data.get(FLOAT_LE, base + 4L * i) * x[i];
        return sum;
    }
}
