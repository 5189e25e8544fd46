package io.razorstream.engine.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reference (scalar) quantisation and dequantisation of whole rows in ggml's block layouts. Used by the writer, by
 * tests and as the ground truth the vectorised kernels are checked against.
 */
public final class Quantizer {
    /** Elements per Q8_0 / Q4_0 block. */
    public static final int QK = 32;

    private Quantizer() {}

    /** Encodes {@code x} (length a multiple of the type's block size) in {@code type}'s layout. */
    public static byte[] quantize(GgmlType type, float[] x) {
        ByteBuffer out =
                ByteBuffer.allocate(Math.toIntExact(type.bytesFor(x.length))).order(ByteOrder.LITTLE_ENDIAN);
        quantizeInto(type, x, 0, x.length, out);
        return out.array();
    }

    /** Encodes {@code x[from, from+n)} into {@code out} (little-endian, advanced by the bytes written). */
    public static void quantizeInto(GgmlType type, float[] x, int from, int n, ByteBuffer out) {
        if (n % type.blockSize() != 0)
            throw new IllegalArgumentException(n + " is not a multiple of " + type.blockSize());
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) out.putFloat(x[from + i]);
            }
            case F16 -> {
                for (int i = 0; i < n; i++) out.putShort(Numerics.floatToF16(x[from + i]));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) out.putShort(Numerics.floatToBf16(x[from + i]));
            }
            case Q8_0 -> {
                for (int b = from; b < from + n; b += QK) {
                    float amax = 0;
                    for (int j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[b + j]));
                    float d = amax / 127f;
                    float id = d != 0 ? 1f / d : 0f;
                    out.putShort(Numerics.floatToF16(d));
                    for (int j = 0; j < QK; j++) out.put((byte) roundHalfAway(x[b + j] * id));
                }
            }
            case Q4_0 -> {
                for (int b = from; b < from + n; b += QK) {
                    float amax = 0, max = 0;
                    for (int j = 0; j < QK; j++) {
                        float v = x[b + j];
                        if (Math.abs(v) > amax) {
                            amax = Math.abs(v);
                            max = v;
                        }
                    }
                    float d = max / -8f;
                    float id = d != 0 ? 1f / d : 0f;
                    out.putShort(Numerics.floatToF16(d));
                    for (int j = 0; j < QK / 2; j++) {
                        int lo = Math.min(15, (int) (byte) (x[b + j] * id + 8.5f));
                        int hi = Math.min(15, (int) (byte) (x[b + QK / 2 + j] * id + 8.5f));
                        out.put((byte) (lo | (hi << 4)));
                    }
                }
            }
            default -> throw new UnsupportedOperationException("quantisation to " + type + " is not supported");
        }
    }

    /** Decodes {@code n} elements starting at byte {@code offset} of {@code in} into {@code out[outOffset..]}. */
    public static void dequantize(GgmlType type, ByteBuffer in, int offset, float[] out, int outOffset, int n) {
        dequantize(type, MemorySegment.ofBuffer(in), offset, out, outOffset, n);
    }

    /**
     * The scalar definition of each type's decoding, from byte {@code offset} of {@code in}: no vectors and no
     * allocation, so it costs the same before the JIT compiles it (decode's embedding lookup runs it once a token).
     */
    public static void dequantize(GgmlType type, MemorySegment in, long offset, float[] out, int outOffset, int n) {
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) out[outOffset + i] = in.get(FLOAT_LE, offset + 4L * i);
            }
            case F16 -> {
                for (int i = 0; i < n; i++) out[outOffset + i] = Numerics.f16ToFloat(in.get(SHORT_LE, offset + 2L * i));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++)
                    out[outOffset + i] = Numerics.bf16ToFloat(in.get(SHORT_LE, offset + 2L * i));
            }
            case Q8_0 -> {
                for (int blk = 0; blk < n / QK; blk++) {
                    long o = offset + (long) blk * type.blockBytes();
                    float d = Numerics.f16ToFloat(in.get(SHORT_LE, o));
                    for (int j = 0; j < QK; j++)
                        out[outOffset + blk * QK + j] = in.get(ValueLayout.JAVA_BYTE, o + 2 + j) * d;
                }
            }
            case Q4_0 -> {
                for (int blk = 0; blk < n / QK; blk++) {
                    long o = offset + (long) blk * type.blockBytes();
                    float d = Numerics.f16ToFloat(in.get(SHORT_LE, o));
                    for (int j = 0; j < QK / 2; j++) {
                        int q = in.get(ValueLayout.JAVA_BYTE, o + 2 + j) & 0xFF;
                        out[outOffset + blk * QK + j] = ((q & 0xF) - 8) * d;
                        out[outOffset + blk * QK + QK / 2 + j] = ((q >>> 4) - 8) * d;
                    }
                }
            }
            case Q4_K, Q5_K, Q6_K -> {
                for (int blk = 0; blk < n / KQuants.QK_K; blk++) {
                    KQuants.decode(
                            type, in, offset + (long) blk * type.blockBytes(), out, outOffset + blk * KQuants.QK_K);
                }
            }
            default -> throw new UnsupportedOperationException("dequantisation of " + type + " is not supported");
        }
    }

    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** C's roundf: halves go away from zero (ggml's reference quantisers use it). */
    static float roundHalfAway(float v) {
        return (float) Math.copySign(Math.floor(Math.abs((double) v) + 0.5), v);
    }

    /**
     * Quantises an activation vector to Q8_0 the way llama.cpp's quantize_row_q8_0 does: scale amax/127 stored as F16,
     * quants rounded with the unrounded scale's inverse.
     */
    public static Activation quantizeActivationQ8(float[] x, int length) {
        if (length % QK != 0) throw new IllegalArgumentException(length + " is not a multiple of " + QK);
        float[] q = new float[length];
        float[] scales = new float[length / QK];
        quantizeActivationQ8(x, length, q, scales);
        return new Activation(q, scales);
    }

    public static void quantizeActivationQ8(float[] x, int length, float[] q, float[] scales) {
        for (int b = 0; b < length; b += QK) {
            float amax = 0;
            for (int j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[b + j]));
            // llama.cpp's x86 path: id = 127/amax, quants rounded half to even (_mm256_round_ps).
            float id = amax != 0 ? 127f / amax : 0f;
            scales[b / QK] = Numerics.roundToF16(amax / 127f);
            for (int j = 0; j < QK; j++) q[b + j] = (float) Math.rint(x[b + j] * id);
        }
    }
}
