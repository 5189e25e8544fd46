package io.razorstream.app.stream;

import io.razorstream.proto.v1.ReplyEvent;

import java.util.concurrent.ConcurrentHashMap;

/**
 * Hands a turn's reply, token by token, from the decode loop to the gRPC call waiting for it on this instance. Under
 * exactly-once, records on the replies topic become visible only at commit, so live tokens cannot ride Kafka; they
 * travel in process, and only when a caller waits here.
 */
public final class TokenRouter {
    /** The waiting side of a turn. Called from the stream thread. */
    public interface Waiter {
        void delta(String text);

        void done(ReplyEvent reply);
    }

    private final ConcurrentHashMap<String, Waiter> waiting = new ConcurrentHashMap<>();

    private static String key(String sessionId, String turnId) {
        return sessionId.length() + ":" + sessionId + turnId;
    }

    /** Registers a waiter; false if another call already waits for the same turn. */
    public boolean register(String sessionId, String turnId, Waiter waiter) {
        return waiting.putIfAbsent(key(sessionId, turnId), waiter) == null;
    }

    public void unregister(String sessionId, String turnId, Waiter waiter) {
        waiting.remove(key(sessionId, turnId), waiter);
    }

    /** The waiter of a turn, or null when nobody on this instance waits for it. */
    public Waiter waiter(String sessionId, String turnId) {
        return waiting.get(key(sessionId, turnId));
    }
}
