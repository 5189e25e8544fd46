package io.razorstream.engine.attention;

import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** H2O: bounded, keeps the recent tokens, keeps the token that draws the attention. */
class HeavyHitterHeadTest {
    static final int HS = 8;

    @Test
    void keepsTheHeavyHitterAndTheRecentTokensWithinItsBudget() {
        SplittableRandom r = new SplittableRandom(1);
        HeavyHitterHead head = new HeavyHitterHead(HS, 8, 4);
        float[] u = new float[HS];
        u[0] = 1;
        float[] heavyValue = new float[HS];
        Arrays.fill(heavyValue, 7f);
        float[] out = new float[HS];
        for (int t = 0; t < 200; t++) {
            float[] k = new float[HS], v = new float[HS];
            for (int d = 1; d < HS; d++) {
                k[d] = (float) r.nextGaussian();
                v[d] = (float) r.nextGaussian();
            }
            if (t == 3) {
                k = u.clone();
                v = heavyValue;
            } // the one token every query looks for
            head.append(k, 0, v, 0);
            head.attend(u, 0, Scores.scaled(10f), out, 0); // queries along u
            head.endToken();
            assertThat(head.entries()).isLessThanOrEqualTo(8);
        }
        assertThat(head.entries()).isEqualTo(8);
        // The heavy hitter is still there: a query along u reads its value.
        head.attend(u, 0, Scores.scaled(10f), out, 0);
        assertThat(out[1]).isGreaterThan(6.9f);
    }

    @Test
    void belowBudgetItIsPlainAttention() {
        HeavyHitterHead head = new HeavyHitterHead(HS, 16, 4);
        float[] k1 = {1, 0, 0, 0, 0, 0, 0, 0}, k2 = {0, 1, 0, 0, 0, 0, 0, 0};
        float[] v1 = {1, 1, 1, 1, 1, 1, 1, 1}, v2 = {3, 3, 3, 3, 3, 3, 3, 3};
        head.append(k1, 0, v1, 0);
        head.append(k2, 0, v2, 0);
        float[] out = new float[HS];
        head.attend(new float[] {1, 0, 0, 0, 0, 0, 0, 0}, 0, Scores.scaled(1f), out, 0);
        double w1 = Math.exp(1) / (Math.exp(1) + 1);
        assertThat((double) out[0]).isCloseTo(w1 * 1 + (1 - w1) * 3, Offset.offset(1e-6));
        HeadSpec spec = new HeadSpec.HeavyHitters(16, 4);
        assertThat(spec.entries(2, -1)).isEqualTo(head.entries());
        assertThat(spec.bytes(2, -1, HS, 2 * HS)).isEqualTo(2L * HS * 2 * 2);
    }

    @Test
    void rejectsImpossibleBudgets() {
        assertThatThrownBy(() -> new HeavyHitterHead(HS, 4, 5)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> KvPolicy.heavyHitters(2, 2, 0, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
