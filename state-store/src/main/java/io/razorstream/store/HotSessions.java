package io.razorstream.store;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Recently used sessions kept decoded in memory, least recently used first out, within a byte budget (the caches' heap
 * size). The store stays the source of truth: a session dropped from here is loaded again from it, bit for bit.
 */
public final class HotSessions {
    /**
     * Measured when put (on the session's own thread), so that reading the totals never touches a cache another thread
     * changes.
     */
    private record Entry(Session session, long bytes, long kvBytes, long fullKvBytes) {}

    private final long budgetBytes;
    private final LinkedHashMap<String, Entry> lru = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes, kvBytes, fullKvBytes;

    public HotSessions(long budgetBytes) {
        if (budgetBytes < 0) throw new IllegalArgumentException("budget must be >= 0");
        this.budgetBytes = budgetBytes;
    }

    /** The session if it is hot (and marks it most recently used), else null. */
    public synchronized Session get(String sessionId) {
        Entry e = lru.get(sessionId);
        return e == null ? null : e.session();
    }

    /**
     * Adds or re-measures a session as most recently used, then drops least recently used ones until the budget holds
     * (a session larger than the whole budget is not kept at all).
     */
    public synchronized void put(Session session) {
        drop(lru.remove(session.id()));
        long size = session.cache().heapBytes();
        if (size > budgetBytes) return; // would push out everything else and then itself
        Entry e = new Entry(
                session, size, session.cache().bytesInUse(), session.cache().fullBytes());
        lru.put(session.id(), e);
        bytes += e.bytes();
        kvBytes += e.kvBytes();
        fullKvBytes += e.fullKvBytes();
        for (Iterator<Map.Entry<String, Entry>> it = lru.entrySet().iterator(); bytes > budgetBytes && it.hasNext(); ) {
            Entry oldest = it.next().getValue();
            it.remove();
            drop(oldest);
        }
    }

    private void drop(Entry e) {
        if (e == null) return;
        bytes -= e.bytes();
        kvBytes -= e.kvBytes();
        fullKvBytes -= e.fullKvBytes();
    }

    public synchronized void remove(String sessionId) {
        drop(lru.remove(sessionId));
    }

    /** KV bytes the hot sessions' caches keep (as KvCache.bytesInUse counts them). */
    public synchronized long kvBytes() {
        return kvBytes;
    }

    /** What ordinary caches of the same tokens would keep (KvCache.fullBytes). */
    public synchronized long fullKvBytes() {
        return fullKvBytes;
    }

    public synchronized boolean contains(String sessionId) {
        return lru.containsKey(sessionId);
    }

    public synchronized long bytes() {
        return bytes;
    }

    public synchronized int size() {
        return lru.size();
    }
}
