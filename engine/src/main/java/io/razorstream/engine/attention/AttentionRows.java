package io.razorstream.engine.attention;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The rows of one forward pass as {@link Attention} sees them: the sequences of the pass one after the other, each with
 * its own cache and its rows at that cache's next positions. The layer loop writes each row's query, key and value
 * ({@link #queries}, {@link #keys}, {@link #values}) and reads the attention output ({@link #output}); the layout is
 * fixed by {@link #begin} for the whole pass. One instance per batch size, reused pass after pass, so a decode step
 * allocates nothing here.
 */
public final class AttentionRows {
    /** One sequence of a pass: its cache and how many rows it has; a failure fails this sequence only. */
    public interface Sequence {
        KvCache cache();

        int rowCount();

        boolean failed();

        void fail(Throwable t);
    }

    /** Rows of one sequence that share a FULL-head attention call: their keys are read once for all of them. */
    static final int CAUSAL_RUN = 16;

    private final int capacity;
    final float[][] q, k, v, out;
    /** {@link #out}'s rows as segments for the native kernels. */
    final MemorySegment[] outSegments;
    /** Per row: its sequence's index and cache, and its position there. */
    final int[] rowSequence, position;

    final KvCache[] rowCache;
    /** The FULL-head attention's runs: first row and row count, at most {@link #CAUSAL_RUN} rows of one sequence. */
    final int[] runRow, runCount;

    int runs;
    /** The compressed-head tasks of one layer: (sequence, KV head) pairs. */
    final int[] taskSequence, taskHead;
    /** Per sequence: its first row. */
    private final int[] firstRow;

    List<? extends Sequence> sequences;
    int rows;
    /** {@link Attention}'s range bodies over these rows, made on first use and kept (no garbage per layer). */
    Attention.FullPass fullPass;

    Attention.CompressedPass compressedPass;

    /** Room for {@code capacity} rows of a model with these dimensions. */
    public AttentionRows(int capacity, int queryDim, int kvDim, int kvHeads) {
        this.capacity = capacity;
        q = new float[capacity][queryDim];
        k = new float[capacity][kvDim];
        v = new float[capacity][kvDim];
        out = new float[capacity][queryDim];
        outSegments = new MemorySegment[capacity];
        for (int t = 0; t < capacity; t++) outSegments[t] = MemorySegment.ofArray(out[t]);
        rowSequence = new int[capacity];
        position = new int[capacity];
        rowCache = new KvCache[capacity];
        runRow = new int[capacity];
        runCount = new int[capacity];
        taskSequence = new int[capacity * kvHeads];
        taskHead = new int[capacity * kvHeads];
        firstRow = new int[capacity];
    }

    /**
     * Lays out a pass over {@code sequences}: their rows one after the other, each at its cache's next positions.
     * Returns the number of rows.
     */
    public int begin(List<? extends Sequence> sequences) {
        int count = 0;
        for (int si = 0; si < sequences.size(); si++) count += sequences.get(si).rowCount();
        if (count > capacity) throw new IllegalArgumentException(count + " rows for a batch of " + capacity);
        this.sequences = sequences;
        rows = count;
        runs = 0;
        int row = 0;
        for (int si = 0; si < sequences.size(); si++) {
            Sequence s = sequences.get(si);
            int start = s.cache().position();
            firstRow[si] = row;
            for (int t = 0; t < s.rowCount(); t++, row++) {
                rowSequence[row] = si;
                rowCache[row] = s.cache();
                position[row] = start + t;
            }
            for (int r = 0; r < s.rowCount(); r += CAUSAL_RUN) {
                runRow[runs] = firstRow[si] + r;
                runCount[runs++] = Math.min(CAUSAL_RUN, s.rowCount() - r);
            }
        }
        return count;
    }

    /** Lets go of the pass's caches and sequences. */
    public void end() {
        for (int t = 0; t < rows; t++) rowCache[t] = null;
        sequences = null;
        rows = 0;
    }

    /** The first row of the pass's {@code sequence}-th sequence. */
    public int firstRow(int sequence) {
        return firstRow[sequence];
    }

    /** Each row's position in its sequence (the RoPE angles' positions). */
    public int[] positions() {
        return position;
    }

    /** Per row, the query heads side by side (queryDim floats), post-RoPE. */
    public float[][] queries() {
        return q;
    }

    /** Per row, the KV heads' keys side by side, post-RoPE, as projected (the cache rounds them to its precision). */
    public float[][] keys() {
        return k;
    }

    public float[][] values() {
        return v;
    }

    /** Per row, the attention output of every query head, side by side. */
    public float[][] output() {
        return out;
    }

    Sequence sequenceOf(int row) {
        return sequences.get(rowSequence[row]);
    }
}
