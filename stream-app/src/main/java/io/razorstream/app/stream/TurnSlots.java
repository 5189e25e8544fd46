package io.razorstream.app.stream;

import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * The turns this instance runs at once, over all its partitions: at most {@code turns.max-in-flight}, each on a thread
 * of its own (they spend their time waiting for the engine's shared forward passes, see the engine's PassScheduler, so
 * the limit is about filling those passes and bounding memory, not about cores).
 */
public final class TurnSlots implements AutoCloseable {
    private final int max;
    private final Semaphore free;
    private final ExecutorService threads = Executors.newThreadPerTaskExecutor(
            Thread.ofPlatform().name("razorstream-turn-", 0).daemon().factory());

    public TurnSlots(int max) {
        if (max < 1) throw new IllegalArgumentException("turns.max-in-flight must be >= 1, got " + max);
        this.max = max;
        this.free = new Semaphore(max);
    }

    /** Takes a slot if one is free; the taker gives it back with {@link #giveBack}, or hands it to {@link #run}. */
    boolean tryTake() {
        return free.tryAcquire();
    }

    void giveBack() {
        free.release();
    }

    /** Runs {@code work} on a turn thread of its own under a slot already taken, and gives the slot back after it. */
    void run(Runnable work) {
        threads.execute(() -> {
            try {
                work.run();
            } finally {
                free.release();
            }
        });
    }

    /** Turns running now. */
    public int inFlight() {
        return max - free.availablePermits();
    }

    public int max() {
        return max;
    }

    @Override
    public void close() throws InterruptedException {
        threads.shutdown(); // the tasks' close has stopped their turns already
        threads.awaitTermination(Duration.ofSeconds(10).toMillis(), TimeUnit.MILLISECONDS);
    }
}
