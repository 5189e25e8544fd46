package io.razorstream.engine.attention;

/**
 * H2O (Zhang et al. 2023), a baseline: a head keeps at most {@code budget} tokens, the {@code recent} newest plus the
 * "heavy hitters" with the most attention received so far; when a token arrives over budget, the older token with the
 * least accumulated attention is evicted for good.
 */
public final class HeavyHitterHead implements CompressedHead {
    private final int budget, recent;
    private final KeptRows rows;
    /** Attention received so far, per row. */
    private final double[] received;

    public HeavyHitterHead(int headSize, int budget, int recent) {
        this(budget, recent, new KeptRows(headSize, budget + 1));
    }

    private HeavyHitterHead(int budget, int recent, KeptRows rows) {
        if (budget < 1 || recent < 0 || recent > budget)
            throw new IllegalArgumentException("need 0 <= recent <= budget, 1 <= budget");
        this.budget = budget;
        this.recent = recent;
        this.rows = rows;
        this.received = new double[budget + 1];
    }

    @Override
    public void append(float[] k, int kOff, float[] v, int vOff) {
        received[rows.count()] = 0;
        rows.append(k, kOff, v, vOff);
    }

    @Override
    public void attend(float[] q, int qOff, Scores scores, float[] out, int outOff) {
        double[] p = rows.attend(q, qOff, scores, out, outOff);
        for (int i = 0; i < rows.count(); i++) received[i] += p[i];
    }

    @Override
    public void endToken() {
        int count = rows.count();
        if (count <= budget) return;
        int victim = -1;
        for (int i = 0; i < count - recent; i++) if (victim < 0 || received[i] < received[victim]) victim = i;
        if (victim < 0) victim = 0;
        System.arraycopy(received, victim + 1, received, victim, count - victim - 1);
        rows.remove(victim);
    }

    @Override
    public int entries() {
        return rows.count();
    }

    /** The whole head for the store: its rows (oldest first) and the attention each has received. */
    @Override
    public void writeRecord(HeadRecord.Writer out) {
        rows.write(out);
        for (int i = 0; i < rows.count(); i++) out.putDouble(received[i]);
    }

    static HeavyHitterHead readRecord(int headSize, int budget, int recent, HeadRecord.Reader in) {
        HeavyHitterHead head = new HeavyHitterHead(budget, recent, KeptRows.read(headSize, budget + 1, budget, in));
        for (int i = 0; i < head.rows.count(); i++) head.received[i] = in.getDouble();
        return head;
    }
}
