package io.razorstream.app.http;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Where a resent conversation and a session part. OpenAI clients send the whole message list every time; the session
 * already holds most of it. Each message the HTTP API sends to a session becomes a turn whose id starts with the hash
 * of the list up to and including that message (role and content, in order), so the session's recent turn ids say which
 * prefix of a new list it holds. A generated reply is not a turn of its own: it belongs to the turn it answers, and the
 * list must carry it unchanged for the prefix to count.
 *
 * <p>The plan: take back the session's turns after the common prefix (they are undoable only so far), then send the
 * messages after it: all but the last as appended turns, the last as the turn to answer. When the list ends exactly
 * where the session's last answered turn does, that answer is returned again (a retried request). A list that shares
 * nothing with the session replaces it when every turn it has can be taken back.
 */
final class HistoryMatch {
    private static final String PREFIX = "oai-";
    private static final int HASH_CHARS = 32;

    /** A chat message: its role as the protocol names it (system, user, assistant) and its text. */
    record Message(String role, String content) {}

    /** A turn among the session's last ones (newest first), with its reply if it was answered. */
    record Recent(String turnId, boolean replied, String reply) {}

    /**
     * What to do: take back {@code rollback} turns, then send messages {@code [sendFrom, size)}; or, when
     * {@code answeredTurnId} is set, return that turn's stored answer (nothing to send).
     */
    record Plan(int rollback, int sendFrom, String answeredTurnId) {}

    /** The list cannot continue the session: it parts from it further back than the session can take back. */
    static final class Conflict extends Exception {
        Conflict(String message) {
            super(message);
        }
    }

    private HistoryMatch() {}

    /** The prefix hash of each message: message i's covers messages 0..i. */
    static List<String> prefixHashes(List<Message> messages) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        List<String> out = new ArrayList<>(messages.size());
        byte[] chain = new byte[0];
        for (Message m : messages) {
            sha.update(chain);
            sha.update(m.role().getBytes(StandardCharsets.UTF_8));
            sha.update((byte) 0);
            sha.update(m.content().getBytes(StandardCharsets.UTF_8));
            sha.update((byte) 0);
            chain = sha.digest();
            out.add(HexFormat.of().formatHex(chain).substring(0, HASH_CHARS));
        }
        return out;
    }

    /**
     * A new turn id for the message with prefix hash {@code hash}: unique (a taken-back id is never applied again), and
     * its hash readable.
     */
    static String turnId(String hash, String unique) {
        return PREFIX + hash + "-" + unique;
    }

    /** The prefix hash a turn id carries, or null for a turn that did not come through this API. */
    static String hashOf(String turnId) {
        return turnId.startsWith(PREFIX) && turnId.length() >= PREFIX.length() + HASH_CHARS
                ? turnId.substring(PREFIX.length(), PREFIX.length() + HASH_CHARS)
                : null;
    }

    /**
     * The plan for {@code messages} (the last one not an assistant's, {@code hashes} their {@link #prefixHashes}) on a
     * session with {@code recent} turns (newest first) of which {@code undoable} can be taken back; {@code recent ==
     * null}: no such session yet.
     */
    static Plan plan(List<Message> messages, List<String> hashes, List<Recent> recent, int undoable, String sessionId)
            throws Conflict {
        if (recent == null) return new Plan(0, 0, null);
        int last = messages.size() - 1;
        for (int j = 0; j < recent.size() && j <= undoable; j++) {
            Recent r = recent.get(j);
            int i = hashes.indexOf(hashOf(r.turnId()));
            if (i < 0) continue;
            if (r.replied()) {
                if (i == last) return new Plan(j, -1, r.turnId());
                Message next = messages.get(i + 1);
                if (next.role().equals("assistant")
                        && next.content().strip().equals(r.reply().strip())) return new Plan(j, i + 2, null);
                // the list carries another answer (edited, or none): this turn goes too
            } else if (i < last) {
                return new Plan(j, i + 1, null);
            } // else: the same message, now to be answered: take it back and send it again
        }
        // The recent ids hold every live turn when there are fewer than they keep; all can go if all came through here.
        if (recent.size() <= undoable && recent.stream().allMatch(r -> hashOf(r.turnId()) != null))
            return new Plan(recent.size(), 0, null);
        String kept = recent.isEmpty()
                ? "none of its turns came through this API"
                : "it can take back its last " + undoable + " turn" + (undoable == 1 ? "" : "s")
                        + " (setting session.undo-turns)";
        throw new Conflict("the messages do not continue session '" + sessionId
                + "': they part from its history further back than it can" + " go (" + kept
                + "). Send them under a new session id, or without one for a one-off answer");
    }
}
