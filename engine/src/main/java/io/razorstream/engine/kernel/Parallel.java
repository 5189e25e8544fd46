package io.razorstream.engine.kernel;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Splits index ranges across a fixed set of threads (the caller's thread is one of them). Decode calls this ~150 times
 * per token with only tens of microseconds of work each, so dispatch must be cheap: workers spin briefly on a published
 * call counter before parking, and the caller spins for their results. Calls are serialised; a computation that wants
 * its own threads creates its own instance.
 */
public final class Parallel implements AutoCloseable {

    /** Work over the half-open range [from, to). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    private static final AtomicInteger POOL_ID = new AtomicInteger();
    /**
     * Spins (~50 us) before a waiting thread parks or yields: bridges the gap between two matmuls without burning a
     * core for long when the machine is shared.
     */
    private static final int SPINS_BEFORE_PARK = 2_000;

    private static final VarHandle REMAINING, FAILURE;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            REMAINING = lookup.findVarHandle(Parallel.class, "remaining", int.class);
            FAILURE = lookup.findVarHandle(Parallel.class, "failure", Throwable.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int threads;
    private final Thread[] workers;
    private volatile boolean closed;

    // The current call. Written by the caller before it publishes {@link #published} (a volatile write), read by
    // the workers after they see the new value: nothing is allocated per call, which decode makes ~150 times
    // a token.
    private RangeBody body;
    private int n, grain;
    /** Pieces other than the caller's still running (VarHandle REMAINING). */
    @SuppressWarnings("unused")
    private volatile int remaining;
    /** The first failure of a worker's piece (VarHandle FAILURE). */
    @SuppressWarnings("unused")
    private volatile Throwable failure;
    /**
     * The call's number (upper bits) and its piece count (low 16 bits) in one volatile long: a worker that takes no
     * piece reads nothing else, so it cannot see the fields of a later call half-written.
     */
    private volatile long published;

    private long calls;

    public Parallel(int threads) {
        if (threads < 1 || threads > 0xffff)
            throw new IllegalArgumentException("threads must be in 1..65535, got " + threads);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        int id = POOL_ID.incrementAndGet();
        for (int i = 0; i < workers.length; i++) {
            int piece = i + 1;
            workers[i] = Thread.ofPlatform()
                    .daemon()
                    .name("razorstream-compute-" + id + "-" + piece)
                    .unstarted(() -> workerLoop(piece));
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
        this.body = body;
        this.n = n;
        this.grain = g;
        FAILURE.setVolatile(this, (Throwable) null);
        REMAINING.setVolatile(this, pieces - 1);
        published = (++calls << 16) | pieces; // publishes the fields above
        for (int i = 0; i < pieces - 1; i++) LockSupport.unpark(workers[i]);
        Throwable own = null;
        try {
            runPiece(body, n, g, pieces, 0);
        } catch (Throwable t) {
            own = t;
        }
        int spins = 0;
        while ((int) REMAINING.getVolatile(this) > 0) {
            if (++spins < SPINS_BEFORE_PARK) Thread.onSpinWait();
            else Thread.yield();
        }
        this.body = null; // no reference kept to the caller's state between calls
        Throwable t = own != null ? own : (Throwable) FAILURE.getVolatile(this);
        if (t instanceof RuntimeException e) throw e;
        if (t instanceof Error e) throw e;
        if (t != null) throw new RuntimeException(t);
    }

    private static void runPiece(RangeBody body, int n, int grain, int pieces, int piece) {
        int units = (n + grain - 1) / grain;
        int from = Math.min(n, (int) ((long) units * piece / pieces) * grain);
        int to = Math.min(n, (int) ((long) units * (piece + 1) / pieces) * grain);
        if (from < to) body.run(from, to);
    }

    private void workerLoop(int piece) {
        long seen = 0;
        while (true) {
            int spins = 0;
            long now;
            while ((now = published) == seen) {
                if (closed) return;
                if (++spins < SPINS_BEFORE_PARK) Thread.onSpinWait();
                else LockSupport.park(this);
            }
            seen = now;
            int pieces = (int) (now & 0xffff);
            // Read after the volatile word: the caller's writes of this call are visible, and it does not start
            // the next call before this piece has counted itself done.
            if (piece < pieces) {
                try {
                    runPiece(body, n, grain, pieces, piece);
                } catch (Throwable t) {
                    FAILURE.compareAndSet(this, (Throwable) null, t);
                } finally {
                    REMAINING.getAndAdd(this, -1);
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
