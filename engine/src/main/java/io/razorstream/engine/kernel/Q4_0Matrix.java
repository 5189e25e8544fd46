package io.razorstream.engine.kernel;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.razorstream.engine.kernel.Quantizer.QK;
import static io.razorstream.engine.kernel.VectorSupport.B;
import static io.razorstream.engine.kernel.VectorSupport.F;
import static io.razorstream.engine.kernel.VectorSupport.I;
import static io.razorstream.engine.kernel.VectorSupport.L;
import static io.razorstream.engine.kernel.VectorSupport.LE;
import static io.razorstream.engine.kernel.VectorSupport.SHORT_LE;

/**
 * Q4_0 weights (blocks of 32: F16 scale, 16 bytes; byte j holds element j in its low nibble and element j+16 in its
 * high nibble, both offset by 8) against a Q8_0-quantised input, as llama.cpp computes it.
 */
public final class Q4_0Matrix extends WeightMatrix {
    private static final int BLOCK_BYTES = 18;

    Q4_0Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q4_0, data, rows, cols);
    }

    @Override
    protected Activation prepareJava(float[] x) {
        return Quantizer.quantizeActivationQ8(x, cols);
    }

    private float scale(long blockOffset) {
        return Numerics.f16ToFloat(data.get(SHORT_LE, blockOffset));
    }

    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        long off = row * rowBytes;
        for (int b = 0; b < cols / QK; b++, off += BLOCK_BYTES) {
            float d = scale(off);
            int o = offset + b * QK;
            if (VectorSupport.ENABLED) {
                FloatVector dv = FloatVector.broadcast(F, d);
                for (int j = 0; j < QK / 2; j += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, data, off + 2 + j, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    ((FloatVector) q.and(0xF).sub(8).convert(VectorOperators.I2F, 0))
                            .mul(dv)
                            .intoArray(out, o + j);
                    ((FloatVector) q.lanewise(VectorOperators.ASHR, 4)
                                    .and(0xF)
                                    .sub(8)
                                    .convert(VectorOperators.I2F, 0))
                            .mul(dv)
                            .intoArray(out, o + QK / 2 + j);
                }
                continue;
            }
            for (int j = 0; j < QK / 2; j++) {
                int q = data.get(ValueLayout.JAVA_BYTE, off + 2 + j) & 0xFF;
                out[o + j] = ((q & 0xF) - 8) * d;
                out[o + QK / 2 + j] = ((q >>> 4) - 8) * d;
            }
        }
    }

    @Override
    protected float dotJava(int row, Activation a) {
        if (!VectorSupport.ENABLED) return dotScalar(row, a);
        float[] x = a.values();
        float[] xs = a.scales();
        long off = row * rowBytes;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < cols / QK; b++, off += BLOCK_BYTES) {
            FloatVector s = FloatVector.zero(F);
            for (int j = 0; j < QK / 2; j += L) {
                // Nibbles are cut out after widening to int lanes: x86 has no byte shifts, and the Vector
                // API's emulation of them made this kernel 2.5x slower.
                IntVector q = (IntVector)
                        ByteVector.fromMemorySegment(B, data, off + 2 + j, LE).convertShape(VectorOperators.B2I, I, 0);
                FloatVector lo = (FloatVector) q.and(0xF).sub(8).convert(VectorOperators.I2F, 0);
                FloatVector hi = (FloatVector)
                        q.lanewise(VectorOperators.ASHR, 4).and(0xF).sub(8).convert(VectorOperators.I2F, 0);
                s = lo.fma(FloatVector.fromArray(F, x, b * QK + j), s);
                s = hi.fma(FloatVector.fromArray(F, x, b * QK + QK / 2 + j), s);
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
            for (int j = 0; j < QK / 2; j++) {
                int q = data.get(ValueLayout.JAVA_BYTE, off + 2 + j) & 0xFF;
                s += ((q & 0xF) - 8) * x[b * QK + j] + ((q >>> 4) - 8) * x[b * QK + QK / 2 + j];
            }
            sum += s * scale(off) * a.scales()[b];
        }
        return sum;
    }
}
