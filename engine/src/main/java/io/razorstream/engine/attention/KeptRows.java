package io.razorstream.engine.attention;

import java.util.Arrays;

/**
 * The key and value rows of a head that keeps a subset of its tokens (H2O, SnapKV): appended in token order, compacted
 * in place when rows go, attended exactly ({@link ExactAttention}), written whole for the store.
 */
final class KeptRows {
    private final int headSize;
    private float[] keys, values;
    private int count;

    KeptRows(int headSize, int capacity) {
        this.headSize = headSize;
        this.keys = new float[Math.max(1, capacity) * headSize];
        this.values = new float[Math.max(1, capacity) * headSize];
    }

    int count() {
        return count;
    }

    void append(float[] k, int kOff, float[] v, int vOff) {
        if ((count + 1) * headSize > keys.length) {
            keys = Arrays.copyOf(keys, 2 * keys.length);
            values = Arrays.copyOf(values, 2 * values.length);
        }
        System.arraycopy(k, kOff, keys, count * headSize, headSize);
        System.arraycopy(v, vOff, values, count * headSize, headSize);
        count++;
    }

    /** Drops row {@code i}; the later rows move down one. */
    void remove(int i) {
        int tail = count - i - 1;
        System.arraycopy(keys, (i + 1) * headSize, keys, i * headSize, tail * headSize);
        System.arraycopy(values, (i + 1) * headSize, values, i * headSize, tail * headSize);
        count--;
    }

    /** Keeps the rows with {@code keep[i]}, in order. */
    void keep(boolean[] keep) {
        int n = 0;
        for (int j = 0; j < count; j++) {
            if (!keep[j]) continue;
            System.arraycopy(keys, j * headSize, keys, n * headSize, headSize);
            System.arraycopy(values, j * headSize, values, n * headSize, headSize);
            n++;
        }
        count = n;
    }

    /** Softmax attention of one query over the rows into {@code out}; returns the probabilities. */
    double[] attend(float[] q, int qOff, Scores scores, float[] out, int outOff) {
        return ExactAttention.attend(q, qOff, keys, values, count, headSize, scores, out, outOff);
    }

    /** The row count, then every key, then every value. */
    void write(HeadRecord.Writer out) {
        out.putInt(count);
        for (int i = 0; i < count; i++) out.putVector(keys, i * headSize);
        for (int i = 0; i < count; i++) out.putVector(values, i * headSize);
    }

    /** Rows as {@link #write} wrote them, at most {@code limit} of them. */
    static KeptRows read(int headSize, int capacity, int limit, HeadRecord.Reader in) {
        int count = in.getInt();
        if (count < 0 || count > limit)
            throw new IllegalArgumentException("head record: " + count + " rows, at most " + limit + " expected");
        KeptRows rows = new KeptRows(headSize, Math.max(capacity, count));
        for (int i = 0; i < count; i++) in.getVector(rows.keys, i * headSize);
        for (int i = 0; i < count; i++) in.getVector(rows.values, i * headSize);
        rows.count = count;
        return rows;
    }
}
