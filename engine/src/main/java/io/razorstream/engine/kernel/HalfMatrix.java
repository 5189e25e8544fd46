package io.razorstream.engine.kernel;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;

import static io.razorstream.engine.kernel.VectorSupport.F;
import static io.razorstream.engine.kernel.VectorSupport.L;
import static io.razorstream.engine.kernel.VectorSupport.SHORT_LE;

/**
 * 16-bit float weights, F16 or BF16: as llama.cpp does, the input is rounded to the weight's format and the products
 * are summed in F32. One class for both (the formats differ only in how a half widens and how a float rounds); the
 * format test is loop-invariant, so the JIT hoists it out of the kernels.
 */
public final class HalfMatrix extends WeightMatrix {
    private final boolean bf16;

    HalfMatrix(GgmlType type, MemorySegment data, int rows, int cols) {
        super(type, data, rows, cols);
        if (type != GgmlType.F16 && type != GgmlType.BF16)
            throw new IllegalArgumentException("not a 16-bit float type: " + type);
        this.bf16 = type == GgmlType.BF16;
    }

    private float widen(long offset) {
        short h = data.get(SHORT_LE, offset);
        return bf16 ? Numerics.bf16ToFloat(h) : Numerics.f16ToFloat(h);
    }

    private FloatVector widenVector(long offset) {
        return bf16 ? VectorSupport.bf16ToFloats(data, offset) : VectorSupport.halvesToFloats(data, offset);
    }

    @Override
    protected Activation prepareJava(float[] x) {
        return new Activation(rounded(type, x, cols, new float[cols]), null);
    }

    /** x[0, cols) rounded to the half format, as both tiers feed it to {@code type}'s weights, into {@code out}. */
    static float[] rounded(GgmlType type, float[] x, int cols, float[] out) {
        boolean bf16 = type == GgmlType.BF16;
        for (int i = 0; i < cols; i++) out[i] = bf16 ? Numerics.roundToBf16(x[i]) : Numerics.roundToF16(x[i]);
        return out;
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        long base = row * rowBytes;
        int i = 0;
        if (VectorSupport.ENABLED) {
            for (; i + L <= cols; i += L) widenVector(base + 2L * i).intoArray(out, offset + i);
        }
        for (; i < cols; i++) out[offset + i] = widen(base + 2L * i);
    }

    @Override
    protected float dotJava(int row, Activation a) {
        float[] x = a.values();
        long base = row * rowBytes;
        int i = 0;
        float sum = 0;
        if (VectorSupport.ENABLED) {
            FloatVector acc = FloatVector.zero(F);
            for (; i + L <= cols; i += L) acc = widenVector(base + 2L * i).fma(FloatVector.fromArray(F, x, i), acc);
            sum = VectorSupport.sum(acc);
        }
        for (; i < cols; i++) sum += widen(base + 2L * i) * x[i];
        return sum;
    }
}
