package io.razorstream.store;

import io.razorstream.engine.llama.LlamaConfig;

import java.util.Optional;

/**
 * Sessions for one model: hot ones from memory, the others loaded from the store (and then kept hot).
 * {@link #commit} persists a turn's changes and re-measures the session in the memory budget.
 */
public final class SessionRepository {
    private final SessionStore store;
    private final HotSessions hot;
    private final LlamaConfig config;
    private final String modelFingerprint;

    public SessionRepository(SessionStore store, HotSessions hot, LlamaConfig config, String modelFingerprint) {
        this.store = store;
        this.hot = hot;
        this.config = config;
        this.modelFingerprint = modelFingerprint;
    }

    public Optional<Session> find(String sessionId) {
        Session s = hot.get(sessionId);
        if (s != null) return Optional.of(s);
        Optional<Session> loaded = store.load(sessionId, config, modelFingerprint);
        loaded.ifPresent(hot::put);
        return loaded;
    }

    public SessionStore.WriteStats commit(Session session, long nowMillis) {
        SessionStore.WriteStats stats = store.save(session, nowMillis);
        hot.put(session);
        return stats;
    }

    /** Forgets the in-memory copy (e.g. after a failed turn left it half-updated); the store is untouched. */
    public void evict(String sessionId) {
        hot.remove(sessionId);
    }

    public void delete(String sessionId) {
        hot.remove(sessionId);
        store.delete(sessionId);
    }

    public SessionStore store() {
        return store;
    }

    public HotSessions hot() {
        return hot;
    }
}
