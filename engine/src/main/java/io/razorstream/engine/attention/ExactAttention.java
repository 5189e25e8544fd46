package io.razorstream.engine.attention;

import java.util.Arrays;

/** Plain softmax attention over a head's stored rows, for the baselines that need every probability. */
final class ExactAttention {
    private ExactAttention() {}

    /**
     * out = sum of p_i v_i with p = softmax of the logits of q.k_i ({@link Scores#logit}) over rows [0, count) of
     * {@code keys}/{@code values} ({@code headSize} floats per row); returns p.
     */
    static double[] attend(
            float[] q,
            int qOff,
            float[] keys,
            float[] values,
            int count,
            int headSize,
            Scores scores,
            float[] out,
            int outOff) {
        double[] p = new double[count];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < count; i++) {
            double s = 0;
            for (int d = 0; d < headSize; d++) s += q[qOff + d] * keys[i * headSize + d];
            p[i] = scores.logit(s);
            max = Math.max(max, p[i]);
        }
        double sum = 0;
        for (int i = 0; i < count; i++) sum += p[i] = Math.exp(p[i] - max);
        Arrays.fill(out, outOff, outOff + headSize, 0f);
        for (int i = 0; i < count; i++) {
            p[i] /= sum;
            for (int d = 0; d < headSize; d++) out[outOff + d] += (float) (p[i] * values[i * headSize + d]);
        }
        return p;
    }
}
