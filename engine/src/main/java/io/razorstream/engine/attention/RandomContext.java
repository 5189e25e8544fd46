package io.razorstream.engine.attention;

import java.util.SplittableRandom;

/**
 * A long context without a prefill: random keys and values appended to a cache as if the model had processed that many
 * tokens. For benchmarks and store tests, which need a cache's size and shape, not its meaning.
 */
public final class RandomContext {
    private RandomContext() {}

    /**
     * Appends {@code n} positions of unit-Gaussian keys and values (at the cache's precision) to every head of
     * {@code cache}.
     */
    public static void append(KvCache cache, int n, long seed) {
        cache.reserve(n);
        SplittableRandom random = new SplittableRandom(seed);
        int kvHeads = cache.kvHeads(), headSize = cache.headSize();
        KvPrecision precision = cache.precision();
        float[] k = new float[kvHeads * headSize], v = new float[kvHeads * headSize];
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < k.length; i++) {
                k[i] = (float) random.nextGaussian();
                v[i] = (float) random.nextGaussian();
            }
            for (int h = 0; h < kvHeads; h++) {
                precision.round(k, h * headSize, k, h * headSize, headSize);
                precision.round(v, h * headSize, v, h * headSize, headSize);
            }
            for (int l = 0; l < cache.layers(); l++) {
                cache.put(l, cache.position() + t, k, v);
                for (int h = 0; h < kvHeads; h++) {
                    CompressedHead head = cache.compressed(l, h);
                    if (head != null) {
                        head.append(k, h * headSize, v, h * headSize);
                        head.endToken();
                    }
                }
            }
        }
        cache.advance(n);
    }
}
