package io.razorstream.engine.attention;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The MoA-style allocation: it stays within the budget and spends it where the loss saved per entry is largest. */
class SpanProfileTest {
    static final int TOKENS = 1024;

    /** Three heads: one that loses a lot unless FULL, one that a modest window satisfies, one that never loses. */
    static SpanProfile profile() {
        double[][][] lost = {
            {
                {0.9, 0.9, 0.8, 0.7, 0.6, 0.5},
                {0.3, 0.1, 0.0, 0.0, 0.0, 0.0},
                {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}
            }
        };
        return new SpanProfile(SpanProfile.COMPRESSIONS, lost, 4, 16);
    }

    @Test
    void theBudgetGoesWhereItSavesTheMost() {
        SpanProfile p = profile();
        long smallest = 3 * new HeadSpec.Window(new WindowParams(4, 16, 64, false)).entries(TOKENS, -1);
        // Enough for one FULL head and a 64-token window besides the smallest windows: the first head walks up to FULL,
        // the second stops at the window where its loss reaches 0, the third never leaves the smallest window.
        long budget = smallest + (TOKENS - 20) + 48;
        KvPolicy policy = p.policy(budget, TOKENS);
        assertThat(policy.entries(TOKENS, -1)).isLessThanOrEqualTo(budget);
        assertThat(policy.spec(0, 0)).isEqualTo(HeadSpec.FULL);
        assertThat(policy.spec(0, 1)).isEqualTo(new HeadSpec.Window(new WindowParams(4, 16, 16, false)));
        // One entry less and the first head cannot reach FULL.
        assertThat(p.policy(budget - 1, TOKENS).spec(0, 0)).isNotEqualTo(HeadSpec.FULL);
        assertThat(policy.spec(0, 2)).isEqualTo(new HeadSpec.Window(new WindowParams(4, 16, 64, false)));
    }

    @Test
    void aBudgetBelowTheSmallestWindowsKeepsThem() {
        KvPolicy policy = profile().policy(0, TOKENS);
        for (int k = 0; k < 3; k++)
            assertThat(policy.spec(0, k)).isEqualTo(new HeadSpec.Window(new WindowParams(4, 16, 64, false)));
    }

    @Test
    void oneFigurePerCandidateShare() {
        assertThatThrownBy(() -> new SpanProfile(SpanProfile.COMPRESSIONS, new double[][][] {{{0.1}}}, 4, 16))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
