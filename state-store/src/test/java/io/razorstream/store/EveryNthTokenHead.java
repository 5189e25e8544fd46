package io.razorstream.store;

import io.razorstream.engine.attention.CompressedHead;
import io.razorstream.engine.attention.HeadRecord;
import io.razorstream.engine.attention.Scores;

import java.util.Arrays;

/** The head of {@link EveryNthToken}: its rows, oldest first, the last one the newest token even off the stride. */
final class EveryNthTokenHead implements CompressedHead {
    private final int headSize, n;
    private float[] keys, values;
    private int count;
    private long tokens;
    private double[] p = new double[0];

    EveryNthTokenHead(int headSize, int n) {
        this.headSize = headSize;
        this.n = n;
        this.keys = new float[16 * headSize];
        this.values = new float[16 * headSize];
    }

    @Override
    public void append(float[] k, int kOff, float[] v, int vOff) {
        if (tokens > 0 && (tokens - 1) % n != 0) count--; // the previous newest was kept only as the newest
        if ((count + 1) * headSize > keys.length) {
            keys = Arrays.copyOf(keys, 2 * keys.length);
            values = Arrays.copyOf(values, 2 * values.length);
        }
        System.arraycopy(k, kOff, keys, count * headSize, headSize);
        System.arraycopy(v, vOff, values, count * headSize, headSize);
        count++;
        tokens++;
    }

    /** Plain softmax attention over the rows, in double. */
    @Override
    public void attend(float[] q, int qOff, Scores scores, float[] out, int outOff) {
        if (p.length < count) p = new double[Math.max(count, 2 * p.length)];
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < count; i++) {
            double dot = 0;
            for (int d = 0; d < headSize; d++) dot += q[qOff + d] * keys[i * headSize + d];
            p[i] = scores.logit(dot);
            max = Math.max(max, p[i]);
        }
        for (int i = 0; i < count; i++) sum += p[i] = Math.exp(p[i] - max);
        Arrays.fill(out, outOff, outOff + headSize, 0f);
        for (int i = 0; i < count; i++) {
            for (int d = 0; d < headSize; d++) out[outOff + d] += (float) (p[i] / sum * values[i * headSize + d]);
        }
    }

    @Override
    public int entries() {
        return count;
    }

    @Override
    public long tokens() {
        return tokens;
    }

    /** Tokens i64, rows i32, the keys, the values. */
    @Override
    public void writeRecord(HeadRecord.Writer out) {
        out.putLong(tokens);
        out.putInt(count);
        for (int i = 0; i < count; i++) out.putVector(keys, i * headSize);
        for (int i = 0; i < count; i++) out.putVector(values, i * headSize);
    }

    static EveryNthTokenHead read(int headSize, int n, HeadRecord.Reader in) {
        EveryNthTokenHead head = new EveryNthTokenHead(headSize, n);
        head.tokens = in.getLong();
        int count = in.getInt();
        if (head.tokens < 0 || count < 0 || count > head.tokens)
            throw new IllegalArgumentException(count + " rows for " + head.tokens + " tokens");
        head.keys = new float[Math.max(16, count) * headSize];
        head.values = new float[head.keys.length];
        for (int i = 0; i < count; i++) in.getVector(head.keys, i * headSize);
        for (int i = 0; i < count; i++) in.getVector(head.values, i * headSize);
        head.count = count;
        return head;
    }
}
