package io.razorstream.engine.kernel;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The vector shapes the kernels use: the CPU's preferred float width (8 lanes on AVX2, 16 on AVX-512) and
 * byte/short/int species with the same lane count, so that one load of quants widens to one float vector. Widths
 * outside 8..16 lanes fall back to the scalar kernels.
 */
final class VectorSupport {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    /** True where the kernels' assumptions hold (8 or 16 float lanes). */
    static final boolean ENABLED = (L == 8 || L == 16) && !Boolean.getBoolean("razorstream.scalar");

    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Byte> B = ENABLED ? VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8)) : null;
    static final VectorSpecies<Short> S =
            ENABLED ? VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16)) : null;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** An unaligned little-endian 16-bit value (the f16 scales inside quantised blocks). */
    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    // Lane rotations for the fixed-order sums below. Each is its own constant: shuffles read from an array
    // are not constants to the JIT, and then rearrange/lane fall back to slow, allocating code.
    private static final VectorShuffle<Float> ROT8 = VectorShuffle.iota(F, 8, 1, true);
    private static final VectorShuffle<Float> ROT4 = VectorShuffle.iota(F, 4, 1, true);
    private static final VectorShuffle<Float> ROT2 = VectorShuffle.iota(F, 2, 1, true);
    private static final VectorShuffle<Float> ROT1 = VectorShuffle.iota(F, 1, 1, true);
    private static final VectorShuffle<Float> ROT4_256 = VectorShuffle.iota(FloatVector.SPECIES_256, 4, 1, true);
    private static final VectorShuffle<Float> ROT2_256 = VectorShuffle.iota(FloatVector.SPECIES_256, 2, 1, true);
    private static final VectorShuffle<Float> ROT1_256 = VectorShuffle.iota(FloatVector.SPECIES_256, 1, 1, true);

    private VectorSupport() {}

    /**
     * The sum of the lanes, always added in the same order (a fixed halving tree; on 8 lanes this is the order of
     * llama.cpp's hsum_float_8). {@code reduceLanes(ADD)} leaves the order unspecified, and in practice the
     * interpreter's and C2's orders differ, so the same dot product gave different bits before and after JIT
     * compilation: logits depended on warm-up, and a prompt prefilled (matmul, compiled at a different time) could
     * differ from the same prompt decoded.
     */
    static float sum(FloatVector v) {
        if (L == 16) v = v.add(v.rearrange(ROT8));
        v = v.add(v.rearrange(ROT4));
        v = v.add(v.rearrange(ROT2));
        v = v.add(v.rearrange(ROT1));
        return v.lane(0);
    }

    /** {@link #sum} for an 8-lane vector of any preferred width: ((x0+x4)+(x2+x6)) + ((x1+x5)+(x3+x7)). */
    static float sum8(FloatVector v) {
        v = v.add(v.rearrange(ROT4_256));
        v = v.add(v.rearrange(ROT2_256));
        v = v.add(v.rearrange(ROT1_256));
        return v.lane(0);
    }

    /** L signed bytes at {@code offset}, widened to floats. */
    static FloatVector bytesToFloats(MemorySegment seg, long offset) {
        return (FloatVector) ByteVector.fromMemorySegment(B, seg, offset, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    /** L IEEE half floats at {@code offset}, widened exactly (subnormals, infinities and NaNs included). */
    static FloatVector halvesToFloats(MemorySegment seg, long offset) {
        IntVector h =
                (IntVector) ShortVector.fromMemorySegment(S, seg, offset, LE).convertShape(VectorOperators.S2I, I, 0);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector mag = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
        // Exponent re-bias by multiplying with 2^112: exact for normals and subnormals alike.
        IntVector scaled = mag.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> infOrNan = h.and(0x7c00).eq(0x7c00);
        return scaled.blend(mag.or(0x7f800000), infOrNan).or(sign).reinterpretAsFloats();
    }

    /** L bfloat16 values at {@code offset}, widened (exact). */
    static FloatVector bf16ToFloats(MemorySegment seg, long offset) {
        IntVector h =
                (IntVector) ShortVector.fromMemorySegment(S, seg, offset, LE).convertShape(VectorOperators.S2I, I, 0);
        return h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }
}
