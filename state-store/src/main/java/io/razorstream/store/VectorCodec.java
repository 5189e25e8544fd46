package io.razorstream.store;

import io.razorstream.engine.attention.KvPrecision;

import java.nio.ByteBuffer;

/**
 * One head's key or value vector in its stored precision: F32 as is, F16 as IEEE half floats, Q8 as an fp32 scale and
 * one int8 per element. The cache already holds values rounded to its precision, so encoding and decoding reproduce
 * them bit for bit.
 */
final class VectorCodec {
    private VectorCodec() {}

    static void encode(KvPrecision p, float[] src, int off, int n, ByteBuffer out) {
        switch (p) {
            case F32 -> {
                for (int i = 0; i < n; i++) out.putFloat(src[off + i]);
            }
            case F16 -> {
                for (int i = 0; i < n; i++) out.putShort(Float.floatToFloat16(src[off + i]));
            }
            case Q8 -> encodeQ8(src, off, n, out);
        }
    }

    static void decode(KvPrecision p, ByteBuffer in, float[] dst, int off, int n) {
        switch (p) {
            case F32 -> {
                for (int i = 0; i < n; i++) dst[off + i] = in.getFloat();
            }
            case F16 -> {
                for (int i = 0; i < n; i++) dst[off + i] = Float.float16ToFloat(in.getShort());
            }
            case Q8 -> {
                float scale = in.getFloat();
                for (int i = 0; i < n; i++) dst[off + i] = in.get() * scale;
            }
        }
    }

    /**
     * The values are already {@code q * s} for the scale s the cache chose; absmax / 127 of them gives s back to within
     * an ulp or two, so try the scales around it until one reproduces every element exactly.
     */
    private static void encodeQ8(float[] src, int off, int n, ByteBuffer out) {
        float guess = KvPrecision.q8Scale(src, off, n);
        float down = guess, up = guess;
        for (int attempt = 0; attempt < 8; attempt++) {
            if (tryScale(down, src, off, n, out) || tryScale(up, src, off, n, out)) return;
            down = Math.nextDown(down);
            up = Math.nextUp(up);
        }
        throw new IllegalArgumentException(
                "vector is not Q8-rounded (no int8 scale reproduces it); was the cache made with KvPrecision.Q8?");
    }

    private static boolean tryScale(float scale, float[] src, int off, int n, ByteBuffer out) {
        float inverse = scale == 0 ? 0 : 1 / scale;
        for (int i = 0; i < n; i++) {
            int q = Math.round(src[off + i] * inverse);
            if (q < -127 || q > 127 || q * scale != src[off + i]) return false;
        }
        out.putFloat(scale);
        for (int i = 0; i < n; i++) out.put((byte) Math.round(src[off + i] * inverse));
        return true;
    }

    static int bytes(KvPrecision p, int n) {
        return p.vectorBytes(n);
    }
}
