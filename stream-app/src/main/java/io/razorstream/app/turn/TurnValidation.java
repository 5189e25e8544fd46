package io.razorstream.app.turn;

import io.razorstream.engine.generation.TokenLogprob;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.Role;
import io.razorstream.proto.v1.Turn;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.store.Session;

import java.nio.charset.StandardCharsets;

/** Checks a turn before anything is changed; returns the reason it is refused, or null. */
public final class TurnValidation {
    /** Session ids as the store's key layout takes them; turn ids get the same bound. */
    public static final int MAX_ID_BYTES = Session.MAX_ID_BYTES;
    /** Bounds that keep one request from costing the service more than a turn is worth. */
    public static final int MAX_STOP_STRINGS = 16, MAX_STOP_BYTES = 256, MAX_BATCH_TURNS = 1000;

    public static final float MAX_TEMPERATURE = 100f, MAX_REPEAT_PENALTY = 100f;

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
        p = turnIdProblem(e.getTurnId());
        if (p != null) return p;
        if (e.getDeleteSession()) return null;
        if (e.getRollbackTurns() < 0)
            return "rollback_turns must be >= 1 (0: not a rollback), got " + e.getRollbackTurns();
        if (e.getRollbackTurns() > 0) {
            if (e.getReply() || !e.getText().isEmpty() || e.getTurnsCount() > 0 || e.getRegenerate()) {
                return "a rollback carries only the session id, its turn id and "
                        + "rollback_turns (text, reply, turns and regenerate must be " + "unset)";
            }
            return null;
        }
        if (e.getTurnsCount() > 0) {
            if (e.getRegenerate())
                return "regenerate takes back one turn and replies again: it cannot carry a batch of turns";
            if (e.getReply() || !e.getText().isEmpty())
                return "a batch of turns carries its text in 'turns' and gets no reply (text and reply must be unset)";
            if (e.getTurnsCount() > MAX_BATCH_TURNS)
                return "a batch holds at most " + MAX_BATCH_TURNS + " turns, got " + e.getTurnsCount();
            for (int i = 0; i < e.getTurnsCount(); i++) {
                Turn t = e.getTurns(i);
                p = turnIdProblem(t.getTurnId());
                if (p == null) p = roleProblem(t.getRoleValue());
                if (p == null) p = textProblem(t.getText(), maxTextBytes);
                if (p != null) return "turn " + (i + 1) + " of the batch: " + p;
            }
            return null;
        }
        p = roleProblem(e.getRoleValue());
        if (p == null) p = textProblem(e.getText(), maxTextBytes);
        return p != null ? p : paramsProblem(e.getParams(), maxReplyTokens);
    }

    private static String turnIdProblem(String id) {
        if (id.isEmpty()) return "turn id is empty";
        if (id.getBytes(StandardCharsets.UTF_8).length > MAX_ID_BYTES)
            return "turn id is longer than " + MAX_ID_BYTES + " bytes";
        return null;
    }

    /**
     * Unknown role numbers are refused rather than guessed at (a newer client's role would otherwise become a user
     * turn).
     */
    public static String roleProblem(int roleNumber) {
        Role r = Role.forNumber(roleNumber);
        return r == null
                ? "role " + roleNumber + " is not a razorstream.v1.Role (0-" + (Role.values().length - 2) + ")"
                : null;
    }

    private static String textProblem(String text, int maxTextBytes) {
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        return bytes > maxTextBytes ? "turn text is " + bytes + " bytes; the limit is " + maxTextBytes : null;
    }

    public static String paramsProblem(GenerationParams p, int maxReplyTokens) {
        if (p.hasMaxTokens() && (p.getMaxTokens() < 1 || p.getMaxTokens() > maxReplyTokens)) {
            return "max_tokens must be in [1, " + maxReplyTokens + "], got " + p.getMaxTokens();
        }
        if (p.hasTemperature() && !(p.getTemperature() >= 0 && p.getTemperature() <= MAX_TEMPERATURE)) {
            return "temperature must be in [0, " + MAX_TEMPERATURE + "], got " + p.getTemperature();
        }
        if (p.hasTopK() && p.getTopK() < 0) return "top_k must be >= 0, got " + p.getTopK();
        if (p.hasTopP() && !(p.getTopP() > 0 && p.getTopP() <= 1)) return "top_p must be in (0, 1], got " + p.getTopP();
        if (p.hasMinP() && !(p.getMinP() >= 0 && p.getMinP() <= 1))
            return "min_p must be in [0, 1], got " + p.getMinP();
        if (p.hasRepeatPenalty() && !(p.getRepeatPenalty() > 0 && p.getRepeatPenalty() <= MAX_REPEAT_PENALTY)) {
            return "repeat_penalty must be in (0, " + MAX_REPEAT_PENALTY + "], got " + p.getRepeatPenalty();
        }
        if (p.getStopCount() > MAX_STOP_STRINGS)
            return "at most " + MAX_STOP_STRINGS + " stop strings, got " + p.getStopCount();
        for (String s : p.getStopList()) {
            if (s.isEmpty()) return "stop strings must not be empty";
            int bytes = s.getBytes(StandardCharsets.UTF_8).length;
            if (bytes > MAX_STOP_BYTES) return "a stop string is " + bytes + " bytes; at most " + MAX_STOP_BYTES;
        }
        if (p.hasTopLogprobs() && (p.getTopLogprobs() < 0 || p.getTopLogprobs() > TokenLogprob.MAX_TOP))
            return "top_logprobs must be in [0, " + TokenLogprob.MAX_TOP + "], got " + p.getTopLogprobs();
        if (p.hasJsonSchema()) {
            try {
                ResponseFormats.grammar(p);
            } catch (IllegalArgumentException e) {
                return "json_schema: " + e.getMessage();
            }
        }
        return null;
    }
}
