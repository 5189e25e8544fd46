package io.razorstream.app.stream;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Sessions whose stored state failed its checks on this instance. The first time, the task that holds
 * the session is rebuilt from its changelog (its local store may be what is damaged); a session found
 * damaged again after that is broken: its changelog holds the damage too, so every turn is refused with
 * DATA_LOSS until the session is deleted. Kept in memory: after a restart a broken session is found
 * again by its next turn (one more rebuild, then broken again).
 */
public final class DamagedSessions {
    private final Map<String, String> rebuilt = new ConcurrentHashMap<>(); // session -> damage that led to a rebuild
    private final Map<String, String> broken = new ConcurrentHashMap<>();  // session -> damage found after the rebuild

    /**
     * Records damage found in a session; true if its task should be rebuilt from the changelog, false if
     * it was rebuilt already and is now broken.
     */
    boolean found(String sessionId, String damage) {
        if (rebuilt.putIfAbsent(sessionId, damage) == null) return true;
        broken.put(sessionId, damage);
        return false;
    }

    /** The damage of a broken session, or null. */
    public String broken(String sessionId) {
        return broken.get(sessionId);
    }

    /** The session was deleted (or is well again): forget it. */
    void cleared(String sessionId) {
        rebuilt.remove(sessionId);
        broken.remove(sessionId);
    }
}
