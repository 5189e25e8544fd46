package io.razorstream.engine.model;

import io.razorstream.engine.attention.AttentionRows;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.kernel.Parallel;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching: the forward-pass work that threads submit (a prefill chunk or a decode step of one sequence
 * each, with its own cache) is gathered into one pass, so the weight matrices are read once for every waiting sequence
 * instead of once each. There is no scheduler thread: the first caller that finds no pass running runs the next one for
 * everybody waiting (leader/follower), the others block until their part is done.
 *
 * <p>Fairness: work is taken in arrival order, and a pass takes everything waiting up to {@link #MAX_ROWS} rows, so a
 * decode step or a short turn waits for at most the pass in progress, never for a long prefill's other chunks.
 * Gathering: sequences of the last pass are usually about to submit their next decode step (they are sampling); the
 * next pass waits for them for at most half the last pass's duration (and {@link #MAX_GATHER_NANOS}), so that N
 * decoding sequences settle into one pass per step rather than alternating groups.
 *
 * <p>Isolation: a failure in one sequence's own part of a pass (its cache writes, its attention) is {@link Work#fail
 * recorded on that part}, which the pass then skips; that sequence's caller gets the failure, the others complete as if
 * it had never joined (each row's numbers are its own). Only a failure of the pass as a whole (a shared matrix product)
 * reaches every part.
 */
final class PassScheduler {
    /**
     * The most rows (tokens) a pass gathers from several sequences: a prefill chunk ({@code Decoder.PREFILL_BATCH})
     * plus many decode steps. The first waiting part is always taken, whatever its size (a caller's one big forward
     * call).
     */
    static final int MAX_ROWS = 256;

    private static final long MAX_GATHER_NANOS = 2_000_000;

    /** Runs one forward pass over several sequences' work. */
    @FunctionalInterface
    interface Pass {
        void run(List<Work> parts, Parallel parallel);
    }

    /**
     * One sequence's share of a pass: tokens[from, from + count) appended to {@code cache} at its next positions, the
     * logits after the last logits.length of them into {@code logits}. Reused by decode (one per thread).
     */
    static final class Work implements AttentionRows.Sequence {
        KvCache cache;
        int[] tokens;
        int from, count;
        float[][] logits;
        Parallel parallel;

        private boolean done;
        private Throwable failure;
        /** This part's own failure in the pass in progress (see {@link #fail}). */
        private volatile Throwable partFailure;

        Work set(KvCache cache, int[] tokens, int from, int count, float[][] logits, Parallel parallel) {
            this.cache = cache;
            this.tokens = tokens;
            this.from = from;
            this.count = count;
            this.logits = logits;
            this.parallel = parallel;
            this.partFailure = null;
            return this;
        }

        /**
         * This part failed in the pass (the first failure counts): the pass skips the rest of its work, its caller gets
         * the failure.
         */
        @Override
        public synchronized void fail(Throwable t) {
            if (partFailure == null) partFailure = t;
        }

        @Override
        public boolean failed() {
            return partFailure != null;
        }

        @Override
        public KvCache cache() {
            return cache;
        }

        @Override
        public int rowCount() {
            return count;
        }

        /** The head profiler watches every probability of its sequence: such work runs in a pass of its own. */
        boolean alone() {
            return cache.observer() != null;
        }
    }

    private final Pass pass;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Work> queue = new ArrayDeque<>();
    /** The pass being run. */
    private final List<Work> members = new ArrayList<>();
    /** Members of the last pass that have not submitted again yet. */
    private final List<Work> expected = new ArrayList<>();

    private boolean running;
    private long lastPassNanos;
    private long passes, rows;

    PassScheduler(Pass pass) {
        this.pass = pass;
    }

    /**
     * Runs {@code w} in the next pass it fits in and returns when it is done; a failure of its own part, or of that
     * pass as a whole, is thrown.
     */
    void submit(Work w) {
        lock.lock();
        try {
            w.done = false;
            w.failure = null;
            queue.addLast(w);
            expected.remove(w);
            if (running) changed.signalAll();
            while (!w.done) {
                if (running) {
                    changed.awaitUninterruptibly();
                    continue;
                }
                running = true;
                gather();
                Throwable failure = null;
                long t0 = System.nanoTime();
                lock.unlock();
                try {
                    pass.run(members, members.get(0).parallel);
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    lock.lock();
                }
                lastPassNanos = System.nanoTime() - t0;
                passes++;
                for (int i = 0; i < members.size(); i++) rows += members.get(i).count;
                expected.clear();
                for (int i = 0; i < members.size(); i++) {
                    Work m = members.get(i);
                    m.failure = failure != null ? failure : m.partFailure;
                    m.partFailure = null;
                    m.done = true;
                    expected.add(m);
                }
                members.clear();
                running = false;
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
        Throwable t = w.failure;
        w.failure = null;
        if (t instanceof RuntimeException e) throw e;
        if (t instanceof Error e) throw e;
        if (t != null) throw new IllegalStateException(t);
    }

    /** Waits briefly for the last pass's sequences, then moves what fits from the queue into {@link #members}. */
    private void gather() {
        if (!expected.isEmpty()) {
            long deadline = System.nanoTime() + Math.min(MAX_GATHER_NANOS, lastPassNanos / 2);
            while (!expected.isEmpty() && queuedRows() < MAX_ROWS) {
                long left = deadline - System.nanoTime();
                if (left <= 0) break;
                try {
                    changed.awaitNanos(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            expected.clear();
        }
        if (queue.size() == 1 || queue.peekFirst().alone()) { // one sequence (no iterator: decode allocates nothing)
            members.add(queue.pollFirst());
            return;
        }
        int rows = 0;
        for (Iterator<Work> it = queue.iterator(); it.hasNext(); ) {
            Work next = it.next();
            if (next.alone()) continue;
            if (!members.isEmpty() && rows + next.count > MAX_ROWS) continue; // a later decode step may still fit
            it.remove();
            members.add(next);
            rows += next.count;
        }
    }

    /** Passes run so far and the rows (tokens) they took: rows / passes is the mean batch. */
    PassCounts counts() {
        lock.lock();
        try {
            return new PassCounts(passes, rows);
        } finally {
            lock.unlock();
        }
    }

    private int queuedRows() {
        int rows = 0;
        for (Work w : queue) rows += w.count;
        return rows;
    }
}
