package io.razorstream.engine.kernel;

/**
 * ggml tensor element types with their on-disk codes and block layouts. Only some are supported for computation
 * ({@link #supported()}); the rest are listed so that files using them get a precise error.
 */
public enum GgmlType {
    F32(0, 1, 4, true),
    F16(1, 1, 2, true),
    Q4_0(2, 32, 18, true), // f16 scale + 16 bytes of 4-bit quants
    Q4_1(3, 32, 20, false),
    Q5_0(6, 32, 22, false),
    Q5_1(7, 32, 24, false),
    Q8_0(8, 32, 34, true), // f16 scale + 32 int8 quants
    Q8_1(9, 32, 36, false),
    Q2_K(10, 256, 84, false),
    Q3_K(11, 256, 110, false),
    Q4_K(12, 256, 144, true), // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of 4-bit quants
    Q5_K(13, 256, 176, true), // as Q4_K plus 32 bytes of fifth bits
    Q6_K(14, 256, 210, true), // 128 bytes low 4 bits, 64 bytes high 2 bits, 16 int8 scales, f16 d
    Q8_K(15, 256, 292, false),
    IQ2_XXS(16, 256, 66, false),
    IQ2_XS(17, 256, 74, false),
    IQ3_XXS(18, 256, 98, false),
    IQ1_S(19, 256, 50, false),
    IQ4_NL(20, 32, 18, false),
    IQ3_S(21, 256, 110, false),
    IQ2_S(22, 256, 82, false),
    IQ4_XS(23, 256, 136, false),
    I8(24, 1, 1, false),
    I16(25, 1, 2, false),
    I32(26, 1, 4, false),
    I64(27, 1, 8, false),
    F64(28, 1, 8, false),
    IQ1_M(29, 256, 56, false),
    BF16(30, 1, 2, true);

    private final int code;
    private final int blockSize;
    private final int blockBytes;
    private final boolean supported;

    GgmlType(int code, int blockSize, int blockBytes, boolean supported) {
        this.code = code;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
        this.supported = supported;
    }

    public int code() {
        return code;
    }

    /** Elements per block (1 for plain float types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int blockBytes() {
        return blockBytes;
    }

    /** Whether this engine can compute with tensors of this type. */
    public boolean supported() {
        return supported;
    }

    /** Bytes taken by {@code elements} elements; {@code elements} must be a multiple of the block size. */
    public long bytesFor(long elements) {
        return Math.multiplyExact(elements / blockSize, (long) blockBytes);
    }

    public static GgmlType fromCode(int code) {
        for (GgmlType t : values()) {
            if (t.code == code) return t;
        }
        return null;
    }
}
