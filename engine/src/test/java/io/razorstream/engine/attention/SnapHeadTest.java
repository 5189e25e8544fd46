package io.razorstream.engine.attention;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** SnapKV: full until compressed, then the keys the last queries looked at plus the newest window. */
class SnapHeadTest {
    static final int HS = 8;

    @Test
    void compressionKeepsWhatTheLastQueriesAttendedAndTheWindow() {
        SplittableRandom r = new SplittableRandom(2);
        SnapHead head = new SnapHead(HS, 12, 4, 8);
        float[] u = new float[HS];
        u[0] = 1;
        float[] marked = new float[HS];
        Arrays.fill(marked, 5f);
        float[] out = new float[HS];
        for (int t = 0; t < 100; t++) {
            float[] k = new float[HS], v = new float[HS];
            for (int d = 1; d < HS; d++) {
                k[d] = (float) r.nextGaussian();
                v[d] = (float) r.nextGaussian();
            }
            if (t == 20) {
                k = u.clone();
                v = marked;
            }
            head.append(k, 0, v, 0);
            head.attend(
                    t >= 92 ? u : new float[HS], 0, Scores.scaled(10f), out, 0); // the last 8 queries look for token 20
            head.endToken();
        }
        assertThat(head.entries()).isEqualTo(100); // nothing evicted before compression
        head.compress();
        assertThat(head.entries()).isEqualTo(12);
        head.attend(u, 0, Scores.scaled(10f), out, 0);
        assertThat(out[1]).isGreaterThan(4.9f); // token 20 survived
        head.append(u, 0, marked, 0);
        assertThat(head.entries()).isEqualTo(13); // after compression tokens are appended
        head.compress();
        assertThat(head.entries()).isEqualTo(13); // once only
    }
}
