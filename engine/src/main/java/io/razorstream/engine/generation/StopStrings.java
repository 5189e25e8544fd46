package io.razorstream.engine.generation;

import java.util.List;

/**
 * Stop strings over a growing reply, as llama.cpp's server treats them: a reply ends before the first stop string it
 * contains, and text that may still become the start of one is held back from the stream, so a stop string never
 * reaches a listener, even in part.
 */
final class StopStrings {
    private final List<String> stops;

    StopStrings(List<String> stops) {
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
    }

    /**
     * Where the earliest stop string ending in {@code text[from, ...)} begins, or -1. Only matches that end after
     * {@code from} are new (earlier text was checked before).
     */
    int find(StringBuilder text, int from) {
        int best = -1;
        for (String s : stops) {
            int start = Math.max(0, from - s.length() + 1);
            int at = text.indexOf(s, start);
            if (at >= 0 && (best < 0 || at < best)) best = at;
        }
        return best;
    }

    /** How much of {@code text} is safe to stream: all of it but a suffix that is a proper prefix of a stop string. */
    int safeLength(CharSequence text) {
        int hold = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, text.length()); k > hold; k--) {
                if (endsWith(text, s, k)) {
                    hold = k;
                    break;
                }
            }
        }
        return text.length() - hold;
    }

    /** Whether text ends with the first k characters of s. */
    private static boolean endsWith(CharSequence text, String s, int k) {
        int base = text.length() - k;
        for (int i = 0; i < k; i++) if (text.charAt(base + i) != s.charAt(i)) return false;
        return true;
    }
}
