package io.razorstream.app.stream;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Sessions whose stored state failed its checks on this instance. The first time, the task that holds the session is
 * rebuilt from its changelog (its local store may be what is damaged); a session found damaged again after that is
 * broken: its changelog holds the damage too, so every turn is refused with DATA_LOSS until the session is deleted.
 * Kept in memory: after a restart a broken session is found again by its next turn (one more rebuild, then broken
 * again).
 */
public final class DamagedSessions {
    private final Set<String> rebuilt =
            ConcurrentHashMap.newKeySet(); // sessions whose partition was rebuilt for their damage
    private final Map<String, String> broken = new ConcurrentHashMap<>(); // session -> damage found after the rebuild

    /** Whether the session's partition was rebuilt from its changelog because of damage in it. */
    boolean wasRebuilt(String sessionId) {
        return rebuilt.contains(sessionId);
    }

    void rebuilt(String sessionId) {
        rebuilt.add(sessionId);
    }

    /** Damage found again after the rebuild: the changelog holds it too. */
    void broke(String sessionId, String damage) {
        broken.put(sessionId, damage);
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
