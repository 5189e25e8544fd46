package io.razorstream.app.turn;

import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.TurnEvent;

import java.nio.charset.StandardCharsets;

/** Checks a turn before anything is changed; returns the reason it is refused, or null. */
public final class TurnValidation {
    /** Session ids as the store's key layout takes them; turn ids get the same bound. */
    public static final int MAX_ID_BYTES = io.razorstream.store.Session.MAX_ID_BYTES;

    private TurnValidation() {}

    public static String sessionIdProblem(String id) {
        if (id == null || id.isEmpty()) return "session id is empty";
        int bytes = id.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_ID_BYTES) return "session id is " + bytes + " bytes; at most " + MAX_ID_BYTES;
        return null;
    }

    public static String problem(TurnEvent e, int maxTextBytes, int maxReplyTokens) {
        String p = sessionIdProblem(e.getSessionId());
        if (p != null) return p;
        if (e.getTurnId().isEmpty()) return "turn id is empty";
        if (e.getTurnId().getBytes(StandardCharsets.UTF_8).length > MAX_ID_BYTES) return "turn id is longer than " + MAX_ID_BYTES + " bytes";
        if (e.getDeleteSession()) return null;
        int bytes = e.getText().getBytes(StandardCharsets.UTF_8).length;
        if (bytes > maxTextBytes) return "turn text is " + bytes + " bytes; the limit is " + maxTextBytes;
        return paramsProblem(e.getParams(), maxReplyTokens);
    }

    public static String paramsProblem(GenerationParams p, int maxReplyTokens) {
        if (p.hasMaxTokens() && (p.getMaxTokens() < 1 || p.getMaxTokens() > maxReplyTokens)) {
            return "max_tokens must be in [1, " + maxReplyTokens + "], got " + p.getMaxTokens();
        }
        if (p.hasTemperature() && !(p.getTemperature() >= 0 && Float.isFinite(p.getTemperature()))) return "temperature must be >= 0, got " + p.getTemperature();
        if (p.hasTopK() && p.getTopK() < 0) return "top_k must be >= 0, got " + p.getTopK();
        if (p.hasTopP() && !(p.getTopP() > 0 && p.getTopP() <= 1)) return "top_p must be in (0, 1], got " + p.getTopP();
        if (p.hasMinP() && !(p.getMinP() >= 0 && p.getMinP() <= 1)) return "min_p must be in [0, 1], got " + p.getMinP();
        if (p.hasRepeatPenalty() && !(p.getRepeatPenalty() > 0 && Float.isFinite(p.getRepeatPenalty()))) return "repeat_penalty must be > 0, got " + p.getRepeatPenalty();
        for (String s : p.getStopList()) if (s.isEmpty()) return "stop strings must not be empty";
        return null;
    }
}
