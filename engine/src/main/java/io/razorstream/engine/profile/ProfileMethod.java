package io.razorstream.engine.profile;

import java.util.Arrays;
import java.util.Locale;

/** The ways a profile finds retrieval heads (`profile --method`). */
public enum ProfileMethod {
    /** RazorAttention's echo/induction probe on repeated random tokens (../shared/docs/RAZOR.md, section 2). */
    RAZOR("razor"),
    /**
     * Retrieval Head (Wu et al. 2024): how often a head's strongest attention lands on the needle token being copied.
     */
    RETRIEVAL_SCORE("retrieval-score"),
    /**
     * DuoAttention (Xiao et al. 2024): per-head gates between full and streaming attention, optimised with the weights
     * frozen.
     */
    DUO("duo"),
    /** AttentionInfluence: how much masking a head hurts copying a needle (a causal score). */
    INFLUENCE("influence");

    private final String label;

    ProfileMethod(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    public static ProfileMethod parse(String s) {
        for (ProfileMethod m : values()) if (m.label.equals(s.toLowerCase(Locale.ROOT))) return m;
        throw new IllegalArgumentException("unknown profile method '" + s + "' (known: "
                + String.join(
                        ", ", Arrays.stream(values()).map(ProfileMethod::label).toList()) + ")");
    }
}
