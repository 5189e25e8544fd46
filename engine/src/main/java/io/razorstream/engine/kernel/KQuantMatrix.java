package io.razorstream.engine.kernel;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.razorstream.engine.kernel.KQuants.QK_K;
import static io.razorstream.engine.kernel.VectorSupport.B;
import static io.razorstream.engine.kernel.VectorSupport.F;
import static io.razorstream.engine.kernel.VectorSupport.I;
import static io.razorstream.engine.kernel.VectorSupport.L;
import static io.razorstream.engine.kernel.VectorSupport.LE;
import static io.razorstream.engine.kernel.VectorSupport.SHORT_LE;

/**
 * Q4_K, Q5_K and Q6_K weights (see {@link KQuants}) against a Q8_K-quantised input, as llama.cpp pairs them. The vector
 * kernels work on the quants directly (widened to int lanes, no decoded floats) and apply each sub-block's scale once;
 * {@link #dotDecoded} is the plain form for CPUs without them.
 */
public final class KQuantMatrix extends WeightMatrix {
    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[QK_K]);

    KQuantMatrix(GgmlType type, MemorySegment data, int rows, int cols) {
        super(type, data, rows, cols);
    }

    @Override
    protected Activation prepareJava(float[] x) {
        return KQuants.quantizeActivationQ8K(x, cols);
    }

    /** Row {@code row} as floats (embeddings, and the GEMM prefill path, which decodes each row once per pass). */
    @Override
    public void dequantizeRow(int row, float[] out, int offset) {
        long off = row * rowBytes;
        for (int b = 0; b < cols / QK_K; b++, off += type.blockBytes()) {
            int o = offset + b * QK_K;
            if (!VectorSupport.ENABLED) KQuants.decode(type, data, off, out, o);
            else if (type == GgmlType.Q6_K) decodeQ6(off, out, o);
            else decodeQ4Q5(off, out, o, type == GgmlType.Q5_K);
        }
    }

    /**
     * Vector form of {@link KQuants}' Q4_K/Q5_K decoding: {@code d * scale * q - dmin * min} per sub-block (same
     * floats).
     */
    private void decodeQ4Q5(long off, float[] out, int o, boolean fifthBit) {
        float d = Numerics.f16ToFloat(data.get(SHORT_LE, off)), dmin = Numerics.f16ToFloat(data.get(SHORT_LE, off + 2));
        long scales = off + 4, qh = off + 16, qs = fifthBit ? off + 48 : off + 16;
        for (int j = 0; j < 4; j++, qs += 32) {
            FloatVector d1 = FloatVector.broadcast(F, d * KQuants.scale(data, scales, 2 * j)),
                    m1 = FloatVector.broadcast(F, dmin * KQuants.min(data, scales, 2 * j));
            FloatVector d2 = FloatVector.broadcast(F, d * KQuants.scale(data, scales, 2 * j + 1)),
                    m2 = FloatVector.broadcast(F, dmin * KQuants.min(data, scales, 2 * j + 1));
            for (int l = 0; l < 32; l += L) {
                IntVector q = bytes(qs + l);
                IntVector lo = nibble(q, 0), hi = nibble(q, 4);
                if (fifthBit) {
                    IntVector h = bytes(qh + l);
                    lo = lo.add(fifthBit(h, 2 * j));
                    hi = hi.add(fifthBit(h, 2 * j + 1));
                }
                // d1 * q - m1, rounded as the scalar form rounds it (a product, then a difference; no FMA)
                d1.mul((FloatVector) lo.convert(VectorOperators.I2F, 0)).sub(m1).intoArray(out, o + 64 * j + l);
                d2.mul((FloatVector) hi.convert(VectorOperators.I2F, 0)).sub(m2).intoArray(out, o + 64 * j + 32 + l);
            }
        }
    }

    /** Vector form of {@link KQuants}' Q6_K decoding: {@code d * scale * (q - 32)} (same floats). */
    private void decodeQ6(long off, float[] out, int o) {
        float d = Numerics.f16ToFloat(data.get(SHORT_LE, off + 208));
        long ql = off, qh = off + 128, sc = off + 192;
        for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l += L) {
                int is = l / 16;
                IntVector lo0 = bytes(ql + l), lo1 = bytes(ql + l + 32), h = bytes(qh + l);
                for (int k = 0; k < 4; k++) { // rows l, l+32, l+64, l+96 of this half
                    FloatVector scale = FloatVector.broadcast(F, d * data.get(ValueLayout.JAVA_BYTE, sc + is + 2 * k));
                    scale.mul((FloatVector) q6(k % 2 == 0 ? lo0 : lo1, 4 * (k / 2), h, 2 * k)
                                    .convert(VectorOperators.I2F, 0))
                            .intoArray(out, o + n + 32 * k + l);
                }
            }
        }
    }

    @Override
    protected float dotJava(int row, Activation a) {
        if (!VectorSupport.ENABLED) return dotDecoded(row, a);
        return switch (type) {
            case Q4_K -> dotQ4Q5(row, a, false);
            case Q5_K -> dotQ4Q5(row, a, true);
            case Q6_K -> dotQ6(row, a);
            default -> throw new AssertionError(type);
        };
    }

    /** Decode each super-block to floats, then a vector dot (the scalar-CPU fallback and the reference shape). */
    private float dotDecoded(int row, Activation a) {
        float[] w = BLOCK.get();
        float[] x = a.values(), xs = a.scales();
        long off = row * rowBytes;
        float sum = 0;
        for (int b = 0; b < cols / QK_K; b++, off += type.blockBytes()) {
            KQuants.decode(type, data, off, w, 0);
            float s = 0;
            for (int j = 0; j < QK_K; j++) s += w[j] * x[b * QK_K + j];
            sum += s * xs[b * (QK_K / Quantizer.QK)];
        }
        return sum;
    }

    /** The 4-bit field at {@code shift} of each byte lane (lanes are sign-extended bytes, hence the mask). */
    private static IntVector nibble(IntVector bytes, int shift) {
        return bytes.lanewise(VectorOperators.LSHR, shift).and(0xF);
    }

    /** Q5_K: bit {@code bit} of the high-bit bytes, worth 16. */
    private static IntVector fifthBit(IntVector high, int bit) {
        return high.lanewise(VectorOperators.LSHR, bit).and(1).lanewise(VectorOperators.LSHL, 4);
    }

    /**
     * Q6_K: a low nibble (at {@code lowShift}) and two high bits (at {@code highShift}) make a 6-bit quant, offset by
     * 32.
     */
    private static IntVector q6(IntVector low, int lowShift, IntVector high, int highShift) {
        return nibble(low, lowShift)
                .or(high.lanewise(VectorOperators.LSHR, highShift).and(3).lanewise(VectorOperators.LSHL, 4))
                .sub(32);
    }

    private IntVector bytes(long at) {
        return (IntVector) ByteVector.fromMemorySegment(B, data, at, LE).convertShape(VectorOperators.B2I, I, 0);
    }

    /**
     * Q4_K / Q5_K fused: per 32-element sub-block j, sum q * x over the quants (vectors, no decoded floats), weight it
     * by d * scale_j, and subtract dmin * min_j * (sum of x over the sub-block).
     */
    private float dotQ4Q5(int row, Activation a, boolean fifthBit) {
        float[] x = a.values(), xs = a.scales(), xsum = a.blockSums();
        long off = row * rowBytes;
        FloatVector total = FloatVector.zero(F);
        float mins = 0;
        for (int b = 0; b < cols / QK_K; b++, off += type.blockBytes()) {
            float d8 = xs[b * 8];
            float d = Numerics.f16ToFloat(data.get(SHORT_LE, off)) * d8,
                    dmin = Numerics.f16ToFloat(data.get(SHORT_LE, off + 2)) * d8;
            long scales = off + 4, qh = off + 16, qs = fifthBit ? off + 48 : off + 16;
            for (int j = 0; j < 4; j++, qs += 32) {
                int xo = b * QK_K + 64 * j;
                FloatVector lo = FloatVector.zero(F), hi = FloatVector.zero(F);
                for (int l = 0; l < 32; l += L) {
                    IntVector q = bytes(qs + l);
                    IntVector ql = nibble(q, 0), qhi = nibble(q, 4);
                    if (fifthBit) {
                        IntVector h = bytes(qh + l);
                        ql = ql.add(fifthBit(h, 2 * j));
                        qhi = qhi.add(fifthBit(h, 2 * j + 1));
                    }
                    lo = ((FloatVector) ql.convert(VectorOperators.I2F, 0))
                            .fma(FloatVector.fromArray(F, x, xo + l), lo);
                    hi = ((FloatVector) qhi.convert(VectorOperators.I2F, 0))
                            .fma(FloatVector.fromArray(F, x, xo + 32 + l), hi);
                }
                total = lo.fma(FloatVector.broadcast(F, d * KQuants.scale(data, scales, 2 * j)), total);
                mins += dmin * KQuants.min(data, scales, 2 * j) * xsum[(xo) / 32];
                total = hi.fma(FloatVector.broadcast(F, d * KQuants.scale(data, scales, 2 * j + 1)), total);
                mins += dmin * KQuants.min(data, scales, 2 * j + 1) * xsum[(xo + 32) / 32];
            }
        }
        return VectorSupport.sum(total) - mins;
    }

    /** Q6_K fused: 6-bit quants from 4 low and 2 high bits, minus 32, one int8 scale per 16 elements. */
    private float dotQ6(int row, Activation a) {
        float[] x = a.values(), xs = a.scales();
        long off = row * rowBytes;
        FloatVector total = FloatVector.zero(F);
        for (int b = 0; b < cols / QK_K; b++, off += type.blockBytes()) {
            float d = Numerics.f16ToFloat(data.get(SHORT_LE, off + 208)) * xs[b * 8];
            long ql = off, qh = off + 128, sc = off + 192;
            for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8) {
                int xo = b * QK_K + n;
                for (int l = 0; l < 32; l += L) {
                    int is = l / 16;
                    IntVector lo0 = bytes(ql + l), lo1 = bytes(ql + l + 32), h = bytes(qh + l);
                    IntVector q1 = q6(lo0, 0, h, 0),
                            q2 = q6(lo1, 0, h, 2),
                            q3 = q6(lo0, 4, h, 4),
                            q4 = q6(lo1, 4, h, 6);
                    total = ((FloatVector) q1.convert(VectorOperators.I2F, 0))
                            .mul(FloatVector.fromArray(F, x, xo + l))
                            .fma(FloatVector.broadcast(F, d * data.get(ValueLayout.JAVA_BYTE, sc + is)), total);
                    total = ((FloatVector) q2.convert(VectorOperators.I2F, 0))
                            .mul(FloatVector.fromArray(F, x, xo + l + 32))
                            .fma(FloatVector.broadcast(F, d * data.get(ValueLayout.JAVA_BYTE, sc + is + 2)), total);
                    total = ((FloatVector) q3.convert(VectorOperators.I2F, 0))
                            .mul(FloatVector.fromArray(F, x, xo + l + 64))
                            .fma(FloatVector.broadcast(F, d * data.get(ValueLayout.JAVA_BYTE, sc + is + 4)), total);
                    total = ((FloatVector) q4.convert(VectorOperators.I2F, 0))
                            .mul(FloatVector.fromArray(F, x, xo + l + 96))
                            .fma(FloatVector.broadcast(F, d * data.get(ValueLayout.JAVA_BYTE, sc + is + 6)), total);
                }
            }
        }
        return VectorSupport.sum(total);
    }
}
