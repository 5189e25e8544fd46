package io.razorstream.engine.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * Splits index ranges across a fixed set of threads (the caller's thread is one of them). Decode calls
 * this ~150 times per token with only tens of microseconds of work each, so dispatch must be cheap:
 * workers spin briefly on a generation counter before parking, and the caller spins for their results.
 * Calls are serialised; a computation that wants its own threads creates its own instance.
 */
public final class Parallel implements AutoCloseable {

    /** Work over the half-open range [from, to). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    private static final AtomicInteger POOL_ID = new AtomicInteger();
    /** Spins (~50 us) before a waiting thread parks or yields: bridges the gap between two matmuls without burning a core for long when the machine is shared. */
    private static final int SPINS_BEFORE_PARK = 2_000;

    private final int threads;
    private final Thread[] workers;
    private volatile Job job = new Job(0, null, 0, 1, 0);
    private volatile boolean closed;
    private int generation;

    /** One forRange call; workers read everything about it from this one published object. */
    private record Job(int generation, RangeBody body, int n, int grain, int pieces,
                       AtomicInteger remaining, AtomicReference<Throwable> failure) {
        Job(int generation, RangeBody body, int n, int grain, int pieces) {
            this(generation, body, n, grain, pieces, new AtomicInteger(pieces - 1), new AtomicReference<>());
        }

        void runPiece(int piece) {
            int units = (n + grain - 1) / grain;
            int from = Math.min(n, (int) ((long) units * piece / pieces) * grain);
            int to = Math.min(n, (int) ((long) units * (piece + 1) / pieces) * grain);
            if (from < to) body.run(from, to);
        }
    }

    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        int id = POOL_ID.incrementAndGet();
        for (int i = 0; i < workers.length; i++) {
            int piece = i + 1;
            workers[i] = Thread.ofPlatform().daemon().name("razorstream-compute-" + id + "-" + piece).unstarted(() -> workerLoop(piece));
            workers[i].start();
        }
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code body} over [0, n) in at most {@code threads} contiguous pieces and waits for all of them. */
    public void forRange(int n, RangeBody body) {
        forRange(n, 1, body);
    }

    /** As {@link #forRange(int, RangeBody)}, with piece boundaries on multiples of {@code grain}. */
    public synchronized void forRange(int n, int grain, RangeBody body) {
        if (closed) throw new IllegalStateException("this Parallel is closed");
        int g = Math.max(1, grain);
        int pieces = Math.min(threads, Math.max(1, n / g));
        if (pieces <= 1) {
            body.run(0, n);
            return;
        }
        Job j = new Job(++generation, body, n, g, pieces);
        job = j;
        for (int i = 0; i < pieces - 1; i++) LockSupport.unpark(workers[i]);
        Throwable own = null;
        try {
            j.runPiece(0);
        } catch (Throwable t) {
            own = t;
        }
        int spins = 0;
        while (j.remaining().get() > 0) {
            if (++spins < SPINS_BEFORE_PARK) Thread.onSpinWait();
            else Thread.yield();
        }
        Throwable t = own != null ? own : j.failure().get();
        if (t instanceof RuntimeException e) throw e;
        if (t instanceof Error e) throw e;
        if (t != null) throw new RuntimeException(t);
    }

    private void workerLoop(int piece) {
        int seen = 0;
        while (true) {
            int spins = 0;
            Job j;
            while ((j = job).generation() == seen) {
                if (closed) return;
                if (++spins < SPINS_BEFORE_PARK) Thread.onSpinWait();
                else LockSupport.park(this);
            }
            seen = j.generation();
            if (piece < j.pieces()) {
                try {
                    j.runPiece(piece);
                } catch (Throwable t) {
                    j.failure().compareAndSet(null, t);
                } finally {
                    j.remaining().decrementAndGet();
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
