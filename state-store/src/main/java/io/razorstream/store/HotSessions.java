package io.razorstream.store;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Recently used sessions kept decoded in memory, least recently used first out, within a byte budget
 * (the caches' heap size). The store stays the source of truth: a session dropped from here is loaded
 * again from it, bit for bit.
 */
public final class HotSessions {
    private record Entry(Session session, long bytes) {}

    private final long budgetBytes;
    private final LinkedHashMap<String, Entry> lru = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;

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
     * Adds or re-measures a session as most recently used, then drops least recently used ones until the
     * budget holds (a session larger than the whole budget is not kept at all).
     */
    public synchronized void put(Session session) {
        Entry old = lru.remove(session.id());
        if (old != null) bytes -= old.bytes();
        long size = session.cache().heapBytes();
        if (size > budgetBytes) return; // would push out everything else and then itself
        lru.put(session.id(), new Entry(session, size));
        bytes += size;
        for (Iterator<Map.Entry<String, Entry>> it = lru.entrySet().iterator(); bytes > budgetBytes && it.hasNext(); ) {
            bytes -= it.next().getValue().bytes();
            it.remove();
        }
    }

    public synchronized void remove(String sessionId) {
        Entry e = lru.remove(sessionId);
        if (e != null) bytes -= e.bytes();
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
