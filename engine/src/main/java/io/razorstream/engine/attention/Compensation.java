package io.razorstream.engine.attention;

import java.util.Arrays;
import java.util.Locale;

/**
 * Which window heads keep RazorAttention's compensation token (docs/FIDELITY.md, "Why the compensation token hurt").
 */
public enum Compensation {
    /** Where the head profile's calibration measured that it helps (none when the profile has no calibration). */
    CALIBRATED,
    /** Every window head, as the paper specifies. */
    PAPER,
    /** No window head. */
    NONE;

    /**
     * The heads that keep the token, given a profile's calibrated choice ({@code calibrated}, null when it has none).
     */
    public boolean[][] heads(boolean[][] calibrated, int layers, int kvHeads) {
        boolean[][] out = new boolean[layers][kvHeads];
        switch (this) {
            case CALIBRATED -> {
                if (calibrated != null) for (int l = 0; l < layers; l++) out[l] = calibrated[l].clone();
            }
            case PAPER -> {
                for (boolean[] row : out) Arrays.fill(row, true);
            }
            case NONE -> {}
        }
        return out;
    }

    /** From its name (any case); {@code what} names the setting in the error. */
    public static Compensation parse(String what, String value) {
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + " must be calibrated, paper or none, got '" + value + "'");
        }
    }
}
