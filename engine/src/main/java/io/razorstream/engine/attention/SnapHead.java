package io.razorstream.engine.attention;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * SnapKV (Li et al. 2024), a baseline: the head keeps everything until {@link #compress()} (called once, at the end of
 * the prompt); then every older key is scored by the attention it received from the last {@code observe} queries, the
 * scores are smoothed with a width-5 average, and the best keys are kept together with the newest {@code window}
 * tokens, {@code budget} in all. Tokens after that are appended.
 */
public final class SnapHead implements CompressedHead {
    private static final int POOL = 5;
    private final int budget, window, observe;
    private final KeptRows rows;
    /** The attention rows of the last {@code observe} tokens (one per query head of the group), until compressed. */
    private final ArrayDeque<double[]> lastRows = new ArrayDeque<>();

    private final ArrayDeque<Integer> rowsPerToken = new ArrayDeque<>();
    private int rowsThisToken;
    private boolean compressed;

    public SnapHead(int headSize, int budget, int window, int observe) {
        this(budget, window, observe, new KeptRows(headSize, 64));
    }

    private SnapHead(int budget, int window, int observe, KeptRows rows) {
        if (budget < 1 || window < 0 || window > budget || observe < 1) {
            throw new IllegalArgumentException("need 0 <= window <= budget, 1 <= budget, 1 <= observe");
        }
        this.budget = budget;
        this.window = window;
        this.observe = observe;
        this.rows = rows;
    }

    @Override
    public void append(float[] k, int kOff, float[] v, int vOff) {
        rows.append(k, kOff, v, vOff);
    }

    @Override
    public void attend(float[] q, int qOff, Scores scores, float[] out, int outOff) {
        double[] p = rows.attend(q, qOff, scores, out, outOff);
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
        int count = rows.count();
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
        Arrays.sort(
                order, (a, b) -> pooled[a] != pooled[b] ? Double.compare(pooled[b], pooled[a]) : Integer.compare(a, b));
        boolean[] keep = new boolean[count];
        for (int i = 0; i < budget - window; i++) keep[order[i]] = true;
        for (int j = older; j < count; j++) keep[j] = true;
        rows.keep(keep);
        lastRows.clear();
        rowsPerToken.clear();
    }

    @Override
    public int entries() {
        return rows.count();
    }

    /**
     * The whole head for the store: whether it compressed, its rows, and until it compressed, the attention rows it
     * observes.
     */
    @Override
    public void writeRecord(HeadRecord.Writer out) {
        out.putInt(compressed ? 1 : 0);
        rows.write(out);
        if (compressed) return;
        out.putInt(rowsThisToken);
        out.putInt(rowsPerToken.size());
        for (int r : rowsPerToken) out.putInt(r);
        out.putInt(lastRows.size());
        for (double[] row : lastRows) {
            out.putInt(row.length);
            for (double p : row) out.putDouble(p);
        }
    }

    static SnapHead readRecord(int headSize, int budget, int window, int observe, HeadRecord.Reader in) {
        boolean compressed = in.getInt() == 1;
        SnapHead head = new SnapHead(budget, window, observe, KeptRows.read(headSize, 64, Integer.MAX_VALUE, in));
        head.compressed = compressed;
        if (compressed) return head;
        head.rowsThisToken = in.getInt();
        for (int n = in.getInt(); n > 0; n--) head.rowsPerToken.addLast(in.getInt());
        for (int n = in.getInt(); n > 0; n--) {
            double[] row = new double[in.getInt()];
            for (int j = 0; j < row.length; j++) row[j] = in.getDouble();
            head.lastRows.addLast(row);
        }
        return head;
    }
}
