package io.razorstream.engine.attention;

import io.razorstream.engine.kernel.Numerics;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

class KvPrecisionTest {
    @Test
    void storedBytesPerVector() {
        assertThat(KvPrecision.F32.vectorBytes(64)).isEqualTo(256);
        assertThat(KvPrecision.F16.vectorBytes(64)).isEqualTo(128);
        assertThat(KvPrecision.Q8.vectorBytes(64)).isEqualTo(68);
    }

    @Test
    void q8KeepsEachElementWithinHalfAStepOfItsScale() {
        SplittableRandom r = new SplittableRandom(3);
        float[] x = new float[64], y = new float[64];
        for (int trial = 0; trial < 100; trial++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * Math.exp(r.nextGaussian()));
            KvPrecision.Q8.round(x, 0, y, 0, x.length);
            float scale = KvPrecision.q8Scale(x, 0, x.length);
            float max = 0;
            for (int i = 0; i < x.length; i++) {
                assertThat(Math.abs(y[i] - x[i])).isLessThanOrEqualTo(scale * 0.5f * 1.0001f);
                // every stored value is an integer multiple of the scale in [-127, 127]
                float steps = y[i] / scale;
                assertThat(Math.abs(steps - Math.round(steps))).isLessThan(1e-4f);
                assertThat(Math.abs(Math.round(steps))).isLessThanOrEqualTo(127);
                max = Math.max(max, Math.abs(y[i]));
            }
            assertThat(max)
                    .isEqualTo(
                            127 * scale,
                            Offset.offset(1e-6f * 127 * scale)); // the largest element is kept at full scale
        }
    }

    @Test
    void q8OfZerosIsZerosAndF16RoundsElementwise() {
        float[] zeros = new float[8], out = new float[8];
        out[3] = 5;
        KvPrecision.Q8.round(zeros, 0, out, 0, 8);
        assertThat(out).containsOnly(0f);
        float[] x = {1.0001f, -3.14159f, 65504f, 1e-8f};
        float[] h = new float[4];
        KvPrecision.F16.round(x, 0, h, 0, 4);
        for (int i = 0; i < 4; i++) assertThat(h[i]).isEqualTo(Numerics.roundToF16(x[i]));
    }
}
