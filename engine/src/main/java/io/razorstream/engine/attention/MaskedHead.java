package io.razorstream.engine.attention;

import java.util.Arrays;

/**
 * A head taken out of the model (a causal check: what breaks without it?): it keeps nothing and its attention output is
 * zero, as if the head's slice of the output projection were removed.
 */
final class MaskedHead implements CompressedHead {
    private final int headSize;

    MaskedHead(int headSize) {
        this.headSize = headSize;
    }

    @Override
    public void append(float[] k, int kOff, float[] v, int vOff) {}

    @Override
    public void attend(float[] q, int qOff, Scores scores, float[] out, int outOff) {
        Arrays.fill(out, outOff, outOff + headSize, 0f);
    }

    @Override
    public int entries() {
        return 0;
    }

    /** Nothing to store. */
    @Override
    public void writeRecord(HeadRecord.Writer out) {}

    @Override
    public void mark(int keep) {}

    @Override
    public void rollback() {}
}
