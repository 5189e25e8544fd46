package io.razorstream.engine.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An input vector prepared for one weight type's dot product. As in llama.cpp's CPU backend, the activation side is
 * rounded to the weight's "vec_dot" type first: F16 weights see F16-rounded inputs, BF16 weights BF16-rounded inputs,
 * Q8_0 and Q4_0 weights Q8_0-quantised inputs (held here as integer-valued floats in {@code values} with one
 * F16-rounded scale per 32-block in {@code scales}). F32 weights use the input as it is and {@code scales} is null.
 *
 * <p>For the native kernel tier ({@link NativeKernels}) the same quantised values are held as the bytes the C kernels
 * read ({@link #packed()}: int8 quants, then the scales; see kernels.c), or, for half weights, as the rounded floats in
 * {@code values}.
 */
public final class Activation {
    private final float[] values;
    private final float[] scales;
    private final boolean interleaved;
    private final byte[] packed;
    /** Elements per scale in {@link #packed} (32 for Q8_0 inputs, 256 for Q8_K). */
    private final int packedBlock;

    private final int packedLength;
    private final boolean forNative;
    private float[] effective;
    private float[] blockSums;
    /** The native tier's view of {@link #packed} or {@link #values}, made once (the arrays are final). */
    private MemorySegment segment;

    public Activation(float[] values, float[] scales) {
        this(values, scales, false);
    }

    /**
     * With {@code interleaved}, each 32-block of {@code values} is stored in the order of {@link #interleavedIndex},
     * the order the Q8_0 kernel consumes it in.
     */
    public Activation(float[] values, float[] scales, boolean interleaved) {
        this(values, scales, interleaved, null, 0, 0, false);
    }

    private Activation(
            float[] values,
            float[] scales,
            boolean interleaved,
            byte[] packed,
            int packedBlock,
            int packedLength,
            boolean forNative) {
        this.values = values;
        this.scales = scales;
        this.interleaved = interleaved;
        this.packed = packed;
        this.packedBlock = packedBlock;
        this.packedLength = packedLength;
        this.forNative = forNative;
    }

    /** A native-tier input in the C layout, one float scale per {@code block} elements after the quants. */
    static Activation packed(byte[] bytes, int block, int length) {
        return new Activation(null, null, false, bytes, block, length, true);
    }

    /** A native-tier input of plain (already rounded) floats. */
    static Activation nativeFloats(float[] values) {
        return new Activation(values, null, false, null, 0, 0, true);
    }

    /** True when this input was prepared for the native tier. */
    public boolean isNative() {
        return forNative;
    }

    /** The segment the C code reads for this (native) input. */
    MemorySegment segment() {
        MemorySegment s = segment;
        if (s == null) segment = s = packed != null ? MemorySegment.ofArray(packed) : MemorySegment.ofArray(values);
        return s;
    }

    /** The native layout's bytes, or null. */
    byte[] packed() {
        return packed;
    }

    /**
     * Where logical element i of a 32-block is stored when interleaved: element 4a + j at 8j + a, so that vector j (8
     * lanes) holds byte j of each 4-byte group of the block's quants.
     */
    public static int interleavedIndex(int i) {
        int k = i & 31;
        return (i & ~31) + 8 * (k & 3) + (k >> 2);
    }

    /** Sum of the (integer) values of each 32-element block, for the K-quants' min terms; set by the Q8_K quantiser. */
    public float[] blockSums() {
        return blockSums;
    }

    Activation withBlockSums(float[] sums) {
        this.blockSums = sums;
        return this;
    }

    public float[] values() {
        return values;
    }

    public float[] scales() {
        return scales;
    }

    public int length() {
        return packed != null ? packedLength : values.length;
    }

    /** The quantisation scale that applies to element {@code i} (1 for unquantised inputs). */
    public float scale(int i) {
        if (packed != null)
            return MemorySegment.ofArray(packed)
                    .get(ValueLayout.JAVA_FLOAT_UNALIGNED, packedLength + 4L * (i / packedBlock));
        return scales == null ? 1 : scales[i / Quantizer.QK];
    }

    /** The value the weight type actually multiplies with element {@code i}. */
    public float effective(int i) {
        if (packed != null) return packed[i] * scale(i);
        float v = values[interleaved ? interleavedIndex(i) : i];
        return scales == null ? v : v * scales[i / Quantizer.QK];
    }

    /**
     * Effective values in storage order (interleaved blocks stay interleaved, matching the weight rows the {@link Gemm}
     * path dequantises in the same order), computed once and kept.
     */
    public float[] gemmInput() {
        if (scales == null) return values;
        float[] e = effective;
        if (e == null) {
            e = new float[values.length];
            for (int i = 0; i < e.length; i++) e[i] = values[i] * scales[i / Quantizer.QK];
            effective = e;
        }
        return e;
    }
}
