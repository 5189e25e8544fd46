package io.razorstream.engine.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.razorstream.engine.kernel.VectorSupport.SHORT_LE;

/**
 * ggml's K-quant super-blocks of 256 elements (Q4_K, Q5_K, Q6_K), decoded as llama.cpp's dequantize_row_* define them,
 * and the Q8_K activation quantisation their dot products consume.
 *
 * <ul>
 *   <li>Q4_K (144 bytes): f16 d, f16 dmin, 12 bytes of eight 6-bit scales and eight 6-bit mins, 128 bytes of 4-bit
 *       quants; each 32-element sub-block j is {@code d * scale_j * q - dmin * min_j}.
 *   <li>Q5_K (176 bytes): as Q4_K plus 32 bytes holding each element's fifth bit.
 *   <li>Q6_K (210 bytes): 128 bytes of low 4 bits, 64 bytes of high 2 bits, sixteen int8 scales (one per 16 elements),
 *       f16 d; each element is {@code d * scale * (q - 32)}.
 * </ul>
 */
public final class KQuants {
    public static final int QK_K = 256;

    private KQuants() {}

    /** Decodes the super-block at byte {@code off} of {@code data} into {@code out[o, o + 256)}. */
    public static void decode(GgmlType type, MemorySegment data, long off, float[] out, int o) {
        switch (type) {
            case Q4_K -> decodeQ4K(data, off, out, o, false);
            case Q5_K -> decodeQ4K(data, off, out, o, true);
            case Q6_K -> decodeQ6K(data, off, out, o);
            default -> throw new IllegalArgumentException(type + " is not a K-quant");
        }
    }

    private static int u8(MemorySegment d, long at) {
        return d.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
    }

    /** The 6-bit scale of sub-block j from the 12 packed bytes at {@code s}. */
    static int scale(MemorySegment d, long s, int j) {
        return j < 4 ? u8(d, s + j) & 63 : (u8(d, s + j + 4) & 0xF) | ((u8(d, s + j - 4) >> 6) << 4);
    }

    /** The 6-bit min of sub-block j from the 12 packed bytes at {@code s}. */
    static int min(MemorySegment d, long s, int j) {
        return j < 4 ? u8(d, s + j + 4) & 63 : (u8(d, s + j + 4) >> 4) | ((u8(d, s + j) >> 6) << 4);
    }

    private static void decodeQ4K(MemorySegment data, long off, float[] out, int o, boolean fifthBit) {
        float d = Numerics.f16ToFloat(data.get(SHORT_LE, off));
        float dmin = Numerics.f16ToFloat(data.get(SHORT_LE, off + 2));
        long scales = off + 4, qh = off + 16, qs = fifthBit ? off + 48 : off + 16;
        int u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, qs += 32) {
            float d1 = d * scale(data, scales, is), m1 = dmin * min(data, scales, is);
            float d2 = d * scale(data, scales, is + 1), m2 = dmin * min(data, scales, is + 1);
            for (int l = 0; l < 32; l++) {
                int q = u8(data, qs + l);
                int h = fifthBit ? u8(data, qh + l) : 0;
                out[o + j + l] = d1 * ((q & 0xF) + ((h & u1) != 0 ? 16 : 0)) - m1;
                out[o + j + 32 + l] = d2 * ((q >> 4) + ((h & u2) != 0 ? 16 : 0)) - m2;
            }
            u1 <<= 2;
            u2 <<= 2;
        }
    }

    private static void decodeQ6K(MemorySegment data, long off, float[] out, int o) {
        long ql = off, qh = off + 128, sc = off + 192;
        float d = Numerics.f16ToFloat(data.get(SHORT_LE, off + 208));
        for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int h = u8(data, qh + l);
                int q1 = ((u8(data, ql + l) & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((u8(data, ql + l + 32) & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = ((u8(data, ql + l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = ((u8(data, ql + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
                out[o + n + l] = d * data.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
                out[o + n + l + 32] = d * data.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
                out[o + n + l + 64] = d * data.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
                out[o + n + l + 96] = d * data.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
            }
        }
    }

    /**
     * The element of largest magnitude (with its sign; the first of equals) among x[b, b + 256): Q8_K maps it to -127.
     */
    static float largestMagnitude(float[] x, int b) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = Math.abs(x[b + j]);
            if (ax > amax) {
                amax = ax;
                max = x[b + j];
            }
        }
        return max;
    }

    /**
     * Quantises an activation to Q8_K as llama.cpp's quantize_row_q8_K_ref does: per 256 elements, the element of
     * largest magnitude (with its sign) maps to -127, quants rounded to nearest (ties to even) and capped at 127, scale
     * 1/iscale kept in fp32. Scales are stored once per 32 elements (each block's repeated 8 times) so the activation
     * reads like the 32-block types'.
     */
    public static Activation quantizeActivationQ8K(float[] x, int length) {
        if (length % QK_K != 0) throw new IllegalArgumentException(length + " is not a multiple of " + QK_K);
        float[] q = new float[length];
        float[] scales = new float[length / Quantizer.QK];
        for (int b = 0; b < length; b += QK_K) {
            float max = largestMagnitude(x, b);
            float d = 0;
            if (max != 0) {
                float iscale = -127f / max;
                for (int j = 0; j < QK_K; j++) q[b + j] = Math.min(127, (int) Math.rint(iscale * x[b + j]));
                d = 1 / iscale;
            }
            for (int k = 0; k < QK_K / Quantizer.QK; k++) scales[b / Quantizer.QK + k] = d;
        }
        float[] sums = new float[length / Quantizer.QK];
        for (int i = 0; i < length; i++) sums[i / Quantizer.QK] += q[i];
        return new Activation(q, scales).withBlockSums(sums);
    }
}
