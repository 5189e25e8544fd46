package io.razorstream.store;

import io.razorstream.engine.model.ModelConfig;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Sessions for one model: hot ones from memory, the others loaded from the store (and then kept hot). {@link #commit}
 * persists a turn's changes and re-measures the session in the memory budget.
 */
public final class SessionRepository {
    private final SessionStore store;
    private final HotSessions hot;
    private final ModelConfig config;
    private final String modelFingerprint;
    private final Set<String> madeHot = new HashSet<>();

    public SessionRepository(SessionStore store, HotSessions hot, ModelConfig config, String modelFingerprint) {
        this.store = store;
        this.hot = hot;
        this.config = config;
        this.modelFingerprint = modelFingerprint;
    }

    public Optional<Session> find(String sessionId) {
        Session s = hot.get(sessionId);
        if (s != null) return Optional.of(s);
        Optional<Session> loaded = store.load(sessionId, config, modelFingerprint);
        loaded.ifPresent(this::keepHot);
        return loaded;
    }

    public SessionStore.WriteStats commit(Session session, long nowMillis) {
        SessionStore.WriteStats stats = store.save(session, nowMillis);
        keepHot(session);
        return stats;
    }

    /** The applied turn {@code turnId} of the session, whether saved already or not; empty if it was never applied. */
    public Optional<AppliedTurn> appliedTurn(Session session, String turnId) {
        Optional<AppliedTurn> unsaved = session.unsavedTurn(turnId);
        return unsaved.isPresent() ? unsaved : store.appliedTurn(session.id(), turnId);
    }

    /** Whether the session exists, without loading (or checking) its cache. */
    public boolean exists(String sessionId) {
        return hot.contains(sessionId) || store.exists(sessionId);
    }

    private void keepHot(Session session) {
        hot.put(session);
        madeHot.add(session.id());
    }

    /**
     * Drops from memory every session this repository put there: its store is going away (a Kafka Streams task closing
     * as its partition moves), and copies kept past that could go stale.
     */
    public void releaseAll() {
        for (String id : madeHot) hot.remove(id);
        madeHot.clear();
    }

    /**
     * Deletes the sessions idle longer than {@code ttl} (store and memory) but those {@code inUse} names; returns their
     * ids.
     */
    public List<String> expireIdle(long nowMillis, Duration ttl, Predicate<String> inUse) {
        List<String> expired = store.expireIdle(nowMillis, ttl, inUse);
        for (String id : expired) {
            hot.remove(id);
            madeHot.remove(id);
        }
        return expired;
    }

    /** Forgets the in-memory copy (e.g. after a failed turn left it half-updated); the store is untouched. */
    public void evict(String sessionId) {
        hot.remove(sessionId);
    }

    public void delete(String sessionId) {
        hot.remove(sessionId);
        madeHot.remove(sessionId);
        store.delete(sessionId);
    }

    public SessionStore store() {
        return store;
    }
}
