package io.razorstream.app.stream;

import io.razorstream.proto.v1.TurnEvent;

import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedList;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A task's accepted turns and the order they may start in: one at a time per session (a session has one writer), any
 * number of sessions at once, oldest first. Used by the stream thread, but for {@link #finished}, which a turn thread
 * calls when its engine work is over.
 */
final class TurnQueue {
    /** An accepted turn: its inbox entry, the parsed event, and when the processor received it (System.nanoTime()). */
    record Accepted(TurnInbox.Entry entry, TurnEvent turn, long receivedNanos, long receivedMillis) {
        String session() {
            return turn.getSessionId();
        }
    }

    /** A turn whose engine work runs or ran on a turn thread. */
    static final class Running {
        final Accepted accepted;
        final TurnPipeline.EngineTurn work;
        final long startedNanos;
        volatile long engineDoneNanos;

        Running(Accepted accepted, TurnPipeline.EngineTurn work, long startedNanos) {
            this.accepted = accepted;
            this.work = work;
            this.startedNanos = startedNanos;
        }
    }

    private final LinkedList<Accepted> waiting = new LinkedList<>();
    /** Sessions with a turn started and not answered yet. */
    private final Set<String> busy = new HashSet<>();

    private final LinkedBlockingQueue<Running> finished = new LinkedBlockingQueue<>();
    private int running;

    void add(Accepted a) {
        waiting.addLast(a);
    }

    /**
     * The oldest waiting turn whose session has none under way, taken out of the queue (its session now busy); or null.
     */
    Accepted nextReady() {
        for (Iterator<Accepted> it = waiting.iterator(); it.hasNext(); ) {
            Accepted a = it.next();
            if (busy.add(a.session())) {
                it.remove();
                return a;
            }
        }
        return null;
    }

    /** A turn's engine work was handed to a turn thread. */
    void started() {
        running++;
    }

    /** From the turn thread: the engine work of {@code r} is over. */
    void finished(Running r) {
        r.engineDoneNanos = System.nanoTime();
        finished.add(r);
    }

    /** A turn whose engine work is over, or null; waits up to {@code millis} for one. */
    Running takeFinished(long millis) throws InterruptedException {
        Running r = millis <= 0 ? finished.poll() : finished.poll(millis, TimeUnit.MILLISECONDS);
        if (r != null) running--;
        return r;
    }

    /** The session's turn is answered: its next one may start. */
    void answered(String session) {
        busy.remove(session);
    }

    /** Whether the session has a turn waiting or under way (idle expiry spares it). */
    boolean inUse(String session) {
        if (busy.contains(session)) return true;
        for (Accepted a : waiting) if (a.session().equals(session)) return true;
        return false;
    }

    int waitingCount() {
        return waiting.size();
    }

    /** Turns handed to turn threads and not taken back yet. */
    int runningCount() {
        return running;
    }
}
