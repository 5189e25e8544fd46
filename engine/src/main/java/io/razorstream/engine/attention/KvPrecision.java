package io.razorstream.engine.attention;

import io.razorstream.engine.kernel.Numerics;

/**
 * How keys and values are held in the cache.
 *
 * <ul>
 *   <li>F32: single precision.
 *   <li>F16 (llama.cpp's default): every cached element rounded to half precision, and with it the query and the
 *       attention weights that meet them, as llama.cpp's CPU attention does.
 *   <li>Q8: each token's key (and value) vector of one head as int8 with one fp32 scale (absmax / 127), symmetric,
 *       round to nearest. Queries and weights stay fp32. An option until its accuracy is measured (docs/FIDELITY.md).
 * </ul>
 *
 * The in-memory working copy holds the decoded values (exactly what the precision can represent), so the attention
 * kernels read floats; {@link #vectorBytes} is what one vector costs when stored, which is what the cache reports and
 * what the state store writes.
 */
public enum KvPrecision {
    F32,
    F16,
    Q8;

    /** Bytes of one head's key (or value) vector of {@code headSize} elements when stored. */
    public int vectorBytes(int headSize) {
        return switch (this) {
            case F32 -> headSize * Float.BYTES;
            case F16 -> headSize * 2;
            case Q8 -> headSize + Float.BYTES;
        };
    }

    /** Copies {@code len} elements (one head's vector) rounded to what this precision stores. */
    public void round(float[] src, int srcOff, float[] dst, int dstOff, int len) {
        switch (this) {
            case F32 -> System.arraycopy(src, srcOff, dst, dstOff, len);
            case F16 -> {
                for (int i = 0; i < len; i++) dst[dstOff + i] = Numerics.roundToF16(src[srcOff + i]);
            }
            case Q8 -> {
                float scale = q8Scale(src, srcOff, len);
                float inverse = scale == 0 ? 0 : 1 / scale;
                for (int i = 0; i < len; i++) dst[dstOff + i] = Math.round(src[srcOff + i] * inverse) * scale;
            }
        }
    }

    /** The Q8 scale of one vector: absmax / 127 (0 for an all-zero vector). */
    public static float q8Scale(float[] x, int off, int len) {
        float max = 0;
        for (int i = 0; i < len; i++) max = Math.max(max, Math.abs(x[off + i]));
        return max / 127f;
    }
}
