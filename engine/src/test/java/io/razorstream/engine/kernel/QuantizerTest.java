package io.razorstream.engine.kernel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Quantizer: ggml's block layouts byte for byte, and the error bounds of quantise -> dequantise. */
class QuantizerTest {

    private static float[] dequantize(GgmlType type, byte[] bytes, int n) {
        float[] out = new float[n];
        Quantizer.dequantize(type, ByteBuffer.wrap(bytes), 0, out, 0, n);
        return out;
    }

    /** Random blocks of very different scales, plus blocks that are all zero or have one outlier. */
    private static float[] testData(long seed, int blocks) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = new float[blocks * 32];
        for (int b = 0; b < blocks; b++) {
            // up to 1e5 in magnitude: the F16 scale (amax/127 or amax/8) must stay below 65504
            double scale = Math.pow(10, rnd.nextInt(-6, 4));
            int kind = b % 5;
            for (int j = 0; j < 32; j++) {
                x[b * 32 + j] = switch (kind) {
                    case 0 -> 0f;
                    case 1 -> j == 7 ? (float) (100 * scale) : (float) (rnd.nextGaussian() * scale);
                    default -> (float) (rnd.nextGaussian() * scale);
                };
            }
        }
        return x;
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void q8_0ErrorIsAtMostHalfAStep(long seed) {
        float[] x = testData(seed, 40);
        float[] y = dequantize(GgmlType.Q8_0, Quantizer.quantize(GgmlType.Q8_0, x), x.length);
        for (int b = 0; b < x.length / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
            double d = amax / 127f; // the step the quants were rounded with
            double d16 = Numerics.roundToF16((float) d); // the step stored (F16) and used to dequantise
            // |x - q d| <= d/2 from rounding; storing d as F16 moves q d by |q| |d - d16| <= 127 |d - d16|.
            double bound = d / 2 + 127 * Math.abs(d - d16) + 1e-6 * d + Float.MIN_VALUE;
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                assertThat((double) Math.abs(x[i] - y[i]))
                        .as("block %d element %d (x=%s)", b, j, x[i])
                        .isLessThanOrEqualTo(bound);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void q4_0ErrorIsAtMostOneStep(long seed) {
        float[] x = testData(seed, 40);
        float[] y = dequantize(GgmlType.Q4_0, Quantizer.quantize(GgmlType.Q4_0, x), x.length);
        for (int b = 0; b < x.length / 32; b++) {
            float amax = 0, max = 0;
            for (int j = 0; j < 32; j++) {
                float v = x[b * 32 + j];
                if (Math.abs(v) > amax) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            double d = Math.abs(max / -8f), d16 = Math.abs(Numerics.roundToF16(max / -8f));
            // Levels are -8..7 times d with -8 d = the extreme value: values at the other extreme (+8 d)
            // clip to 7 d, an error of one step; everything else rounds to within d/2.
            double bound = d + 8 * Math.abs(d - d16) + 1e-6 * d + Float.MIN_VALUE;
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                assertThat((double) Math.abs(x[i] - y[i]))
                        .as("block %d element %d", b, j)
                        .isLessThanOrEqualTo(bound);
            }
        }
    }

    @Test
    void q8_0BlockOf0To31ByHand() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j;
        byte[] q = Quantizer.quantize(GgmlType.Q8_0, x);
        assertThat(q).hasSize(34);
        // d = 31/127 = 0.244094...; as F16: exponent -3 (biased 12), mantissa round(0.95276 * 1024) = 976
        // -> 0 01100 1111010000 = 0x33D0, stored little-endian.
        assertThat(q[0] & 0xFF).isEqualTo(0xD0);
        assertThat(q[1] & 0xFF).isEqualTo(0x33);
        // q_j = round(j * 127 / 31), halves away from zero (none of these is near a half)
        int[] expected = {
            0, 4, 8, 12, 16, 20, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61, 66, 70, 74, 78, 82, 86, 90, 94, 98, 102, 107,
            111, 115, 119, 123, 127
        };
        for (int j = 0; j < 32; j++) assertThat((int) q[2 + j]).as("q%d", j).isEqualTo(expected[j]);
    }

    @Test
    void q4_0BlockByHand() {
        // x_j = j - 16: the extreme is -16, so d = -16 / -8 = 2 (F16 0x4000) and q_j = floor((j-16)/2 + 8.5)
        // = (j+1)/2, clipped to 15. Byte k packs q_k (low nibble) and q_{k+16} (high nibble).
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j - 16;
        byte[] q = Quantizer.quantize(GgmlType.Q4_0, x);
        assertThat(q).hasSize(18);
        assertThat(q[0] & 0xFF).isEqualTo(0x00);
        assertThat(q[1] & 0xFF).isEqualTo(0x40);
        int[] expected = {0x80, 0x91, 0x91, 0xA2, 0xA2, 0xB3, 0xB3, 0xC4, 0xC4, 0xD5, 0xD5, 0xE6, 0xE6, 0xF7, 0xF7, 0xF8
        };
        for (int k = 0; k < 16; k++)
            assertThat(q[2 + k] & 0xFF).as("byte %d", k).isEqualTo(expected[k]);
        // and back: (q - 8) * 2
        float[] y = dequantize(GgmlType.Q4_0, q, 32);
        for (int j = 0; j < 32; j++) assertThat(y[j]).isEqualTo(((j + 1) / 2 == 16 ? 15 : (j + 1) / 2) * 2f - 16f);
    }

    @Test
    void allZeroBlocks() {
        // amax 0: the scale is 0 and must not produce NaN (0 * 1/0)
        byte[] q8 = Quantizer.quantize(GgmlType.Q8_0, new float[32]);
        assertThat(q8).containsOnly((byte) 0);
        byte[] q4 = Quantizer.quantize(GgmlType.Q4_0, new float[32]);
        // d = 0 / -8 = -0.0 (F16 0x8000), as in ggml: a zero scale either way
        assertThat(Numerics.f16ToFloat((short) ((q4[0] & 0xFF) | (q4[1] << 8)))).isZero();
        for (int k = 2; k < 18; k++) assertThat(q4[k] & 0xFF).isEqualTo(0x88); // 0 + 8 in both nibbles
        for (float v : dequantize(GgmlType.Q4_0, q4, 32)) assertThat(v == 0f).isTrue(); // +0 or -0
    }

    @Test
    void roundingConventions() {
        // Weights (ggml's reference quantize_row_q8_0) round halves away from zero; activations
        // (llama.cpp's AVX path) round halves to even. With amax = 127 the step is exactly 1.
        float[] x = new float[32];
        x[0] = 127f;
        x[1] = 2.5f;
        x[2] = 3.5f;
        x[3] = -2.5f;
        byte[] w = Quantizer.quantize(GgmlType.Q8_0, x);
        assertThat(new int[] {w[2], w[3], w[4], w[5]}).containsExactly(127, 3, 4, -3);
        Activation a = Quantizer.quantizeActivationQ8(x, 32);
        assertThat(new float[] {a.values()[0], a.values()[1], a.values()[2], a.values()[3]})
                .containsExactly(127f, 2f, 4f, -2f);
        assertThat(a.scales()).containsExactly(1f);
    }

    @ParameterizedTest
    @ValueSource(longs = {7, 8, 9})
    void activationQuantisationIsWithinHalfAStep(long seed) {
        float[] x = testData(seed, 8);
        Activation a = Quantizer.quantizeActivationQ8(x, x.length);
        for (int b = 0; b < 8; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
            assertThat(a.scales()[b]).isEqualTo(Numerics.roundToF16(amax / 127f));
            double d = amax / 127.0, d16 = a.scales()[b];
            for (int j = 0; j < 32; j++) {
                float q = a.values()[b * 32 + j];
                assertThat(q).isEqualTo((float) Math.rint(q)).isBetween(-127f, 127f);
                assertThat(Math.abs(a.effective(b * 32 + j) - (double) x[b * 32 + j]))
                        .isLessThanOrEqualTo(d / 2 + 127 * Math.abs(d - d16) + 1e-6 * d + Float.MIN_VALUE);
            }
        }
    }

    @Test
    void plainTypesAreLittleEndian() {
        assertThat(Quantizer.quantize(GgmlType.F32, new float[] {1f})).containsExactly(0x00, 0x00, 0x80, 0x3f);
        assertThat(Quantizer.quantize(GgmlType.F16, new float[] {1f, -2f})).containsExactly(0x00, 0x3c, 0x00, 0xc0);
        assertThat(Quantizer.quantize(GgmlType.BF16, new float[] {1f})).containsExactly(0x80, 0x3f);
    }

    @Test
    void rejectsWhatItCannotDo() {
        assertThatThrownBy(() -> Quantizer.quantize(GgmlType.Q8_0, new float[33]))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Quantizer.quantize(GgmlType.Q4_K, new float[256]))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> Quantizer.quantizeActivationQ8(new float[40], 40))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
