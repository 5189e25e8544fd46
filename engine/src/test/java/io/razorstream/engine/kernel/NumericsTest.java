package io.razorstream.engine.kernel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** F16 / BF16 conversions: edge values, subnormals, overflow, NaN, and round-to-nearest-even. */
class NumericsTest {

    private static float f(String hexFloat) {
        return Float.parseFloat(hexFloat);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "0x0p0, 0x0000",
        "-0x0p0, 0x8000",
        "1.0, 0x3c00",
        "-2.0, 0xc000",
        "65504, 0x7bff", // largest finite half
        "65519.99, 0x7bff", // just below the midpoint to infinity
        "65520, 0x7c00", // midpoint 65504..65536: ties to even = infinity
        "1e10, 0x7c00",
        "-1e10, 0xfc00",
        "0x1p-14, 0x0400", // smallest normal
        "0x1.ff8p-15, 0x03ff", // largest subnormal (1023 * 2^-24)
        "0x1p-24, 0x0001", // smallest subnormal
        "0x1p-25, 0x0000", // exactly half the smallest subnormal: ties to even (0)
        "0x1.000002p-25, 0x0001", // just above that half: rounds up
        "0x1.8p-24, 0x0002", // 1.5 * 2^-24: ties to even (2)
        "0x1.002p0, 0x3c00", // 1 + 2^-11: tie between 0x3c00 and 0x3c01 -> even 0x3c00
        "0x1.006p0, 0x3c02", // 1 + 3*2^-11: tie between 0x3c01 and 0x3c02 -> even 0x3c02
        "0x1.00201p0, 0x3c01", // just above the first tie: up
    })
    void floatToF16(String value, String bits) {
        assertThat(Numerics.floatToF16(f(value)) & 0xFFFF).isEqualTo(Integer.decode(bits));
    }

    @Test
    void f16SpecialValues() {
        assertThat(Numerics.floatToF16(Float.POSITIVE_INFINITY) & 0xFFFF).isEqualTo(0x7c00);
        assertThat(Numerics.floatToF16(Float.NEGATIVE_INFINITY) & 0xFFFF).isEqualTo(0xfc00);
        short nan = Numerics.floatToF16(Float.NaN);
        assertThat(nan & 0x7c00).isEqualTo(0x7c00);
        assertThat(nan & 0x03ff).isNotZero(); // NaN, not infinity
        assertThat(Numerics.f16ToFloat((short) 0x7e00)).isNaN();
        assertThat(Numerics.f16ToFloat((short) 0x7c00)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(Numerics.f16ToFloat((short) 0x0001)).isEqualTo(0x1p-24f);
        assertThat(Numerics.f16ToFloat((short) 0x03ff)).isEqualTo(1023 * 0x1p-24f);
        assertThat(Numerics.f16ToFloat((short) 0x7bff)).isEqualTo(65504f);
        assertThat(Float.floatToRawIntBits(Numerics.f16ToFloat((short) 0x8000)))
                .isEqualTo(0x8000_0000); // -0 keeps its sign
    }

    @Test
    void everyHalfRoundTrips() {
        for (int h = 0; h < 65536; h++) {
            float v = Numerics.f16ToFloat((short) h);
            if (Float.isNaN(v)) {
                assertThat((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0).isTrue();
                continue;
            }
            assertThat(Numerics.floatToF16(v) & 0xFFFF).as("0x%04x", h).isEqualTo(h);
            assertThat(Numerics.roundToF16(v)).isEqualTo(v);
        }
    }

    @Test
    void everyBf16RoundTrips() {
        for (int b = 0; b < 65536; b++) {
            float v = Numerics.bf16ToFloat((short) b);
            assertThat(Float.floatToRawIntBits(v)).isEqualTo(b << 16); // widening is a shift
            if (Float.isNaN(v)) continue;
            assertThat(Numerics.floatToBf16(v) & 0xFFFF).as("0x%04x", b).isEqualTo(b);
        }
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "0x0p0, 0x0000",
        "-0x0p0, 0x8000",
        "1.0, 0x3f80",
        "0x1.01p0, 0x3f80", // 1 + 2^-8: tie between 0x3f80 and 0x3f81 -> even 0x3f80
        "0x1.03p0, 0x3f82", // 1 + 3*2^-8: tie between 0x3f81 and 0x3f82 -> even 0x3f82
        "0x1.0101p0, 0x3f81", // just above the first tie
        "0x1.fffffep127, 0x7f80", // Float.MAX_VALUE rounds up to infinity (as ggml does)
        "0x1p-133, 0x0001", // float subnormal 2^-133 = bf16's smallest subnormal
        "0x1p-149, 0x0000", // the smallest float subnormal is far below half a bf16 step
    })
    void floatToBf16(String value, String bits) {
        assertThat(Numerics.floatToBf16(f(value)) & 0xFFFF).isEqualTo(Integer.decode(bits));
    }

    @Test
    void bf16NaNStaysNaN() {
        // Truncating a NaN whose payload lies in the low 16 bits would give infinity: ggml sets a quiet bit.
        for (int bits : new int[] {0x7fc00000, 0x7f800001, 0xff800001, 0x7f80ffff}) {
            short b = Numerics.floatToBf16(Float.intBitsToFloat(bits));
            assertThat(Numerics.bf16ToFloat(b)).as("0x%08x", bits).isNaN();
        }
        assertThat(Numerics.floatToBf16(Float.POSITIVE_INFINITY) & 0xFFFF).isEqualTo(0x7f80);
        assertThat(Numerics.floatToBf16(Float.NEGATIVE_INFINITY) & 0xFFFF).isEqualTo(0xff80);
    }

    /** The neighbouring 16-bit values of a non-negative pattern b (same sign), as floats. */
    private static void assertNearestEven(float x, int bits, boolean half) {
        float r = half ? Numerics.f16ToFloat((short) bits) : Numerics.bf16ToFloat((short) bits);
        int mag = bits & 0x7fff;
        int sign = bits & 0x8000;
        for (int nb : new int[] {mag - 1, mag + 1}) {
            if (nb < 0) continue;
            float n = half ? Numerics.f16ToFloat((short) (sign | nb)) : Numerics.bf16ToFloat((short) (sign | nb));
            if (Float.isNaN(n) || Float.isInfinite(n)) continue;
            double dr = Math.abs((double) x - r), dn = Math.abs((double) x - n);
            assertThat(dr)
                    .as("%s -> 0x%04x, neighbour 0x%04x", x, bits, sign | nb)
                    .isLessThanOrEqualTo(dn);
            if (dr == dn)
                assertThat(mag & 1)
                        .as("tie for %s must go to the even pattern", x)
                        .isZero();
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void randomFloatsRoundToTheNearestEven(long seed) {
        // Property: the result is at least as close as either neighbour, and ties pick the even pattern.
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < 20000; i++) {
            // random bit patterns cover every exponent; mask to the f16 range for the half case
            float x = Float.intBitsToFloat(rnd.nextInt());
            if (Float.isNaN(x) || Float.isInfinite(x)) continue;
            assertNearestEven(x, Numerics.floatToBf16(x) & 0xFFFF, false);
            float h = (float) (rnd.nextGaussian() * Math.pow(2, rnd.nextInt(-26, 16)));
            if (Math.abs(h) < 65504) assertNearestEven(h, Numerics.floatToF16(h) & 0xFFFF, true);
            // exact ties: a half/bf16 value plus half its step
            int hb = rnd.nextInt(0x7bff);
            float lo = Numerics.f16ToFloat((short) hb), hi = Numerics.f16ToFloat((short) (hb + 1));
            float mid = (float) (((double) lo + hi) / 2);
            if (mid != lo && mid != hi) assertNearestEven(mid, Numerics.floatToF16(mid) & 0xFFFF, true);
        }
    }
}
