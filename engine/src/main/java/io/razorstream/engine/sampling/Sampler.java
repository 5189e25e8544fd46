package io.razorstream.engine.sampling;

import io.razorstream.engine.kernel.Ops;

import java.util.Arrays;
import java.util.Comparator;
import java.util.PriorityQueue;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits, in llama.cpp's order: repetition penalty, top-k, top-p, min-p, temperature, then a
 * draw from the remaining distribution with a seeded generator (so a seed reproduces a run). Not thread-safe: one per
 * sequence.
 */
public final class Sampler {
    private final SamplerConfig config;
    private final SplittableRandom random;
    private final int[] recent;
    private int recentCount;
    private int recentNext;

    public Sampler(SamplerConfig config) {
        this.config = config;
        this.random = new SplittableRandom(config.seed());
        this.recent = new int[Math.max(0, config.repeatLastN())];
    }

    public SamplerConfig config() {
        return config;
    }

    /** Records a token as part of the context the repetition penalty looks at (prompt and generated). */
    public void accept(int token) {
        if (recent.length == 0) return;
        recent[recentNext] = token;
        recentNext = (recentNext + 1) % recent.length;
        recentCount = Math.min(recentCount + 1, recent.length);
    }

    /** Chooses a token; {@code logits} is not modified. */
    public int sample(float[] logits) {
        float[] l = applyPenalty(logits);
        if (config.greedy()) return Ops.argmax(l);

        int[] order = topK(l, config.topK() > 0 ? Math.min(config.topK(), l.length) : l.length);
        int n = order.length;

        // top-p over the softmax of the (unscaled) logits
        if (config.topP() < 1f) {
            double[] p = softmax(l, order, n, 1f);
            double cum = 0;
            int keep = n;
            for (int i = 0; i < n; i++) {
                cum += p[i];
                if (cum >= config.topP()) {
                    keep = i + 1;
                    break;
                }
            }
            n = Math.max(1, keep);
        }
        // min-p: keep tokens whose probability is at least minP times the top one's
        if (config.minP() > 0f) {
            float threshold = l[order[0]] + (float) Math.log(config.minP());
            int keep = 1;
            while (keep < n && l[order[keep]] >= threshold) keep++;
            n = keep;
        }
        double[] p = softmax(l, order, n, config.temperature());
        double r = random.nextDouble();
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += p[i];
            if (r < cum) return order[i];
        }
        return order[n - 1];
    }

    private float[] applyPenalty(float[] logits) {
        if (config.repeatPenalty() == 1f || recentCount == 0) return logits;
        float[] l = logits.clone();
        boolean[] seen = new boolean[l.length];
        for (int i = 0; i < recentCount; i++) {
            int t = recent[i];
            if (t < 0 || t >= l.length || seen[t]) continue;
            seen[t] = true;
            l[t] = l[t] > 0 ? l[t] / config.repeatPenalty() : l[t] * config.repeatPenalty();
        }
        return l;
    }

    /** Indices of the k largest logits, largest first (lower id first among equals). */
    static int[] topK(float[] l, int k) {
        Comparator<Integer> better = (a, b) -> l[a] != l[b] ? Float.compare(l[b], l[a]) : Integer.compare(a, b);
        // A heap of the k best so far, worst on top: O(n log k) instead of sorting the whole vocabulary.
        PriorityQueue<Integer> heap = new PriorityQueue<>(k + 1, better.reversed());
        for (int i = 0; i < l.length; i++) {
            if (heap.size() < k) heap.add(i);
            else if (better.compare(i, heap.peek()) < 0) {
                heap.poll();
                heap.add(i);
            }
        }
        Integer[] best = heap.toArray(new Integer[0]);
        Arrays.sort(best, better);
        int[] out = new int[best.length];
        for (int i = 0; i < best.length; i++) out[i] = best[i];
        return out;
    }

    private static double[] softmax(float[] l, int[] order, int n, float temperature) {
        double[] p = new double[n];
        double max = l[order[0]] / temperature;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp(l[order[i]] / temperature - max);
            sum += p[i];
        }
        for (int i = 0; i < n; i++) p[i] /= sum;
        return p;
    }
}
