package io.razorstream.engine.kernel;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.razorstream.engine.kernel.VectorSupport.F;
import static io.razorstream.engine.kernel.VectorSupport.L;
import static io.razorstream.engine.kernel.VectorSupport.LE;

/** F32 weights: the input is used as it is. */
public final class F32Matrix extends WeightMatrix {
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    F32Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.F32, data, rows, cols);
    }

    @Override
    protected Activation prepareJava(float[] x) {
        return new Activation(x, null);
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        MemorySegment.copy(data, FLOAT_LE, row * rowBytes, out, offset, cols);
    }

    @Override
    protected float dotJava(int row, Activation a) {
        float[] x = a.values();
        long base = row * rowBytes;
        int i = 0;
        float sum = 0;
        if (VectorSupport.ENABLED) {
            // One accumulator, lane-wise in K order: the order Gemm uses, so prefill and decode agree to the bit.
            FloatVector acc = FloatVector.zero(F);
            for (; i + L <= cols; i += L) {
                acc = FloatVector.fromMemorySegment(F, data, base + 4L * i, LE)
                        .fma(FloatVector.fromArray(F, x, i), acc);
            }
            sum = VectorSupport.sum(acc);
        }
        for (; i < cols; i++) sum += data.get(FLOAT_LE, base + 4L * i) * x[i];
        return sum;
    }
}
