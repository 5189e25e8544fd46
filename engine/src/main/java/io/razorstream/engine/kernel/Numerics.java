package io.razorstream.engine.kernel;

/** Scalar conversions between float32 and the 16-bit float formats, with ggml's rounding. */
public final class Numerics {
    private Numerics() {}

    public static float f16ToFloat(short h) {
        return Float.float16ToFloat(h);
    }

    /** Round to nearest even, as F16C's conversion does. */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    public static float bf16ToFloat(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    /** ggml's fp32 -> bf16: round to nearest even, NaN kept quiet. */
    public static short floatToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 64);
        return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
    }

    public static float roundToF16(float f) {
        return f16ToFloat(floatToF16(f));
    }

    public static float roundToBf16(float f) {
        return bf16ToFloat(floatToBf16(f));
    }
}
