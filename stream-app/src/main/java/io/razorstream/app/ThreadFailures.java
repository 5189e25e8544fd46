package io.razorstream.app;

import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;

/**
 * What happens when the stream thread dies of an exception nothing handled (one session's damaged data never gets here:
 * the processor quarantines it). The thread is replaced - its tasks restart from their last commit - unless it keeps
 * dying, which means a fault that a restart does not cure: then the client stops, health says NOT_SERVING and the log
 * says why.
 */
final class ThreadFailures implements StreamsUncaughtExceptionHandler {
    private static final Logger log = LoggerFactory.getLogger(ThreadFailures.class);
    static final int MAX_REPLACEMENTS = 5;
    static final long WINDOW_MILLIS = 5 * 60_000;

    private final ArrayDeque<Long> recent = new ArrayDeque<>();

    @Override
    public synchronized StreamThreadExceptionResponse handle(Throwable failure) {
        long now = System.currentTimeMillis();
        while (!recent.isEmpty() && recent.peekFirst() < now - WINDOW_MILLIS) recent.removeFirst();
        recent.addLast(now);
        if (recent.size() > MAX_REPLACEMENTS) {
            log.error(
                    "the stream thread failed {} times within {} s; stopping stream processing",
                    recent.size(),
                    WINDOW_MILLIS / 1000,
                    failure);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        }
        log.error("the stream thread failed; replacing it (its tasks resume from their last commit)", failure);
        return StreamThreadExceptionResponse.REPLACE_THREAD;
    }
}
