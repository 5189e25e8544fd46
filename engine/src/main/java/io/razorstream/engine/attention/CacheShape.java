package io.razorstream.engine.attention;

/**
 * What a cache needs to know of its model: layers, KV heads per layer, the head size, and the model's own sliding
 * window ({@code slidingLayers[l]}: layer l attends within its last {@code slidingSize} tokens; size 0: no such
 * layers).
 */
public record CacheShape(int layers, int kvHeads, int headSize, boolean[] slidingLayers, int slidingSize) {
    public CacheShape {
        if (layers < 1 || kvHeads < 1 || headSize < 1)
            throw new IllegalArgumentException("a cache needs layers, KV heads and a head size");
        slidingLayers = slidingLayers.clone();
    }
}
