package io.razorstream.engine.generation;

/**
 * A generated token's log probability under the model's raw distribution (the logits' softmax: before temperature,
 * top-k/p, penalties or a grammar, as vLLM and OpenAI report it), and the {@code top.length} most likely tokens at that
 * step with theirs, most likely first.
 */
public record TokenLogprob(int token, float logprob, int[] top, float[] topLogprobs) {
    /** Most top tokens a request may ask for (OpenAI's limit). */
    public static final int MAX_TOP = 20;

    /** {@code token}'s entry from the logits it was sampled after, with the {@code k} most likely tokens. */
    static TokenLogprob of(float[] logits, int token, int k) {
        float max = Float.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double sum = 0;
        for (float l : logits) sum += Math.exp(l - max);
        float logZ = (float) (max + Math.log(sum));
        int[] top = new int[k];
        float[] topLogprobs = new float[k];
        int n = 0;
        for (int i = 0; i < logits.length && k > 0; i++) {
            float l = logits[i];
            if (n == k && l <= logits[top[n - 1]]) continue;
            int at = n < k ? n++ : n - 1; // insert, dropping the last when full
            while (at > 0 && logits[top[at - 1]] < l) {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = i;
        }
        for (int i = 0; i < k; i++) topLogprobs[i] = logits[top[i]] - logZ;
        return new TokenLogprob(token, logits[token] - logZ, top, topLogprobs);
    }
}
