package io.razorstream.engine.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Splits index ranges across a fixed number of threads (the caller's thread included). Matrix-vector
 * products split their output rows this way, so decode uses every core it is given.
 */
public final class Parallel implements AutoCloseable {

    /** Work over the half-open range [from, to). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    private static final AtomicInteger POOL_ID = new AtomicInteger();

    private final int threads;
    private final ForkJoinPool pool;

    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        int id = POOL_ID.incrementAndGet();
        this.pool = threads == 1 ? null : new ForkJoinPool(threads - 1, p -> {
            var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("razorstream-compute-" + id + "-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        }, null, false);
    }

    public static Parallel single() {
        return new Parallel(1);
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code body} over [0, n) in at most {@code threads} contiguous pieces and waits for all of them. */
    public void forRange(int n, RangeBody body) {
        forRange(n, 1, body);
    }

    /** As {@link #forRange(int, RangeBody)}, with piece boundaries on multiples of {@code grain}. */
    public void forRange(int n, int grain, RangeBody body) {
        int pieces = Math.min(threads, Math.max(1, n / Math.max(1, grain)));
        if (pieces <= 1) {
            body.run(0, n);
            return;
        }
        int units = (n + grain - 1) / grain;
        @SuppressWarnings("unchecked")
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[pieces - 1];
        for (int p = 1; p < pieces; p++) {
            int from = Math.min(n, (int) ((long) units * p / pieces) * grain);
            int to = Math.min(n, (int) ((long) units * (p + 1) / pieces) * grain);
            tasks[p - 1] = pool.submit(() -> body.run(from, to));
        }
        body.run(0, Math.min(n, (int) ((long) units / pieces) * grain));
        for (ForkJoinTask<?> t : tasks) t.join();
    }

    @Override
    public void close() {
        if (pool != null) pool.shutdownNow();
    }
}
