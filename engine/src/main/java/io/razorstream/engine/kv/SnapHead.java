package io.razorstream.engine.kv;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * SnapKV (Li et al. 2024), a baseline: the head keeps everything until {@link #compress()} (called once,
 * at the end of the prompt); then every older key is scored by the attention it received from the last
 * {@code observe} queries, the scores are smoothed with a width-5 average, and the best keys are kept
 * together with the newest {@code window} tokens, {@code budget} in all. Tokens after that are appended.
 */
public final class SnapHead implements CompressedHead {
    private static final int POOL = 5;
    private final int headSize, budget, window, observe;
    private float[] keys = new float[0], values = new float[0];
    private int count;
    private final ArrayDeque<double[]> lastRows = new ArrayDeque<>();
    private final ArrayDeque<Integer> rowsPerToken = new ArrayDeque<>();
    private int rowsThisToken;
    private boolean compressed;

    public SnapHead(int headSize, int budget, int window, int observe) {
        if (budget < 1 || window < 0 || window > budget || observe < 1) {
            throw new IllegalArgumentException("need 0 <= window <= budget, 1 <= budget, 1 <= observe");
        }
        this.headSize = headSize;
        this.budget = budget;
        this.window = window;
        this.observe = observe;
    }

    @Override
    public void append(float[] k, int kOff, float[] v, int vOff) {
        if ((count + 1) * headSize > keys.length) {
            keys = Arrays.copyOf(keys, Math.max(64, 2 * count) * headSize);
            values = Arrays.copyOf(values, Math.max(64, 2 * count) * headSize);
        }
        System.arraycopy(k, kOff, keys, count * headSize, headSize);
        System.arraycopy(v, vOff, values, count * headSize, headSize);
        count++;
    }

    @Override
    public void attend(float[] q, int qOff, float scale, float[] out, int outOff) {
        double[] p = ExactAttention.attend(q, qOff, keys, values, count, headSize, scale, out, outOff);
        if (!compressed) {
            lastRows.addLast(p);
            rowsThisToken++;
        }
    }

    /** Keeps the attention rows of the last {@code observe} tokens only (each token has one row per query head). */
    @Override
    public void endToken() {
        if (compressed) return;
        rowsPerToken.addLast(rowsThisToken);
        rowsThisToken = 0;
        while (rowsPerToken.size() > observe) {
            for (int r = rowsPerToken.removeFirst(); r > 0; r--) lastRows.removeFirst();
        }
    }

    @Override
    public void endPrompt() {
        compress();
    }

    /** Keeps the best-scored older keys and the newest {@code window}; idempotent. */
    public void compress() {
        if (compressed) return;
        compressed = true;
        if (count <= budget) return;
        int older = count - window;
        double[] score = new double[older];
        for (double[] row : lastRows) for (int j = 0; j < Math.min(older, row.length); j++) score[j] += row[j];
        double[] pooled = new double[older];
        for (int j = 0; j < older; j++) {
            double s = 0;
            int n = 0;
            for (int i = Math.max(0, j - POOL / 2); i <= Math.min(older - 1, j + POOL / 2); i++, n++) s += score[i];
            pooled[j] = s / n;
        }
        Integer[] order = new Integer[older];
        for (int j = 0; j < older; j++) order[j] = j;
        Arrays.sort(order, (a, b) -> pooled[a] != pooled[b] ? Double.compare(pooled[b], pooled[a]) : Integer.compare(a, b));
        boolean[] keep = new boolean[count];
        for (int i = 0; i < budget - window; i++) keep[order[i]] = true;
        for (int j = older; j < count; j++) keep[j] = true;
        int n = 0;
        for (int j = 0; j < count; j++) {
            if (!keep[j]) continue;
            System.arraycopy(keys, j * headSize, keys, n * headSize, headSize);
            System.arraycopy(values, j * headSize, values, n * headSize, headSize);
            n++;
        }
        count = n;
        lastRows.clear();
        rowsPerToken.clear();
    }

    @Override
    public int entries() {
        return count;
    }

    @Override
    public long bytes(int vectorBytes) {
        return (long) count * 2 * vectorBytes;
    }
}
