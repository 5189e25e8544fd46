package io.razorstream.engine.kv;

/**
 * H2O (Zhang et al. 2023), a baseline: a head keeps at most {@code budget} tokens, the {@code recent}
 * newest plus the "heavy hitters" with the most attention received so far; when a token arrives over
 * budget, the older token with the least accumulated attention is evicted for good.
 */
public final class HeavyHitterHead implements CompressedHead {
    private final int headSize, budget, recent;
    private final float[] keys, values;
    private final double[] received;
    private int count;

    public HeavyHitterHead(int headSize, int budget, int recent) {
        if (budget < 1 || recent < 0 || recent > budget) throw new IllegalArgumentException("need 0 <= recent <= budget, 1 <= budget");
        this.headSize = headSize;
        this.budget = budget;
        this.recent = recent;
        this.keys = new float[(budget + 1) * headSize];
        this.values = new float[(budget + 1) * headSize];
        this.received = new double[budget + 1];
    }

    @Override
    public void append(float[] k, int kOff, float[] v, int vOff) {
        System.arraycopy(k, kOff, keys, count * headSize, headSize);
        System.arraycopy(v, vOff, values, count * headSize, headSize);
        received[count] = 0;
        count++;
    }

    @Override
    public void attend(float[] q, int qOff, float scale, float[] out, int outOff) {
        double[] p = ExactAttention.attend(q, qOff, keys, values, count, headSize, scale, out, outOff);
        for (int i = 0; i < count; i++) received[i] += p[i];
    }

    @Override
    public void endToken() {
        if (count <= budget) return;
        int victim = -1;
        for (int i = 0; i < count - recent; i++) if (victim < 0 || received[i] < received[victim]) victim = i;
        if (victim < 0) victim = 0;
        int tail = count - victim - 1;
        System.arraycopy(keys, (victim + 1) * headSize, keys, victim * headSize, tail * headSize);
        System.arraycopy(values, (victim + 1) * headSize, values, victim * headSize, tail * headSize);
        System.arraycopy(received, victim + 1, received, victim, tail);
        count--;
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
