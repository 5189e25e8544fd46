package io.razorstream.engine.attention;

/**
 * DuoAttention's training-time head (Xiao et al. 2024): the output is {@code gate} x full attention plus {@code 1 -
 * gate} x streaming attention (sinks and a recent window, nothing for the evicted). It keeps every token; it exists to
 * optimise the gates ({@code profile --method duo}), not to save memory.
 */
final class GatedHead implements CompressedHead {
    private final int headSize;
    private final float gate;
    private final KeptRows all;
    private final WindowHead streaming;
    private float[] scratch = new float[0];

    GatedHead(int headSize, float gate, WindowParams window) {
        this.headSize = headSize;
        this.gate = gate;
        this.all = new KeptRows(headSize, 256);
        this.streaming = new WindowHead(headSize, window.withoutCompensation());
    }

    @Override
    public void append(float[] k, int kOff, float[] v, int vOff) {
        all.append(k, kOff, v, vOff);
        streaming.append(k, kOff, v, vOff);
    }

    @Override
    public void attend(float[] q, int qOff, Scores scores, float[] out, int outOff) {
        if (scratch.length < headSize) scratch = new float[headSize];
        all.attend(q, qOff, scores, out, outOff);
        streaming.attend(q, qOff, scores, scratch, 0);
        for (int d = 0; d < headSize; d++) out[outOff + d] = gate * out[outOff + d] + (1 - gate) * scratch[d];
    }

    @Override
    public int entries() {
        return all.count();
    }

    @Override
    public void writeRecord(HeadRecord.Writer out) {
        throw new UnsupportedOperationException("a gated head is a profiling tool: sessions do not store it");
    }
}
