package io.razorstream.engine.llama;

import io.razorstream.engine.tensor.Numerics;

import java.util.Arrays;

/**
 * The full KV cache of one sequence: post-RoPE keys and values of every position, stored per (layer, KV
 * head) as {@code headSize} floats per position, so that one head's attention reads contiguous memory
 * (and a head can later be kept or compressed on its own). Storage grows by doubling up to
 * {@code maxTokens}, so a model with a 128k context does not reserve 128k positions up front.
 */
public final class KvCache {
    private final int layers;
    private final int kvHeads;
    private final int headSize;
    private final int maxTokens;
    private final KvPrecision precision;
    private final float[][][] keys;   // [layer][kv head][position * headSize + i]
    private final float[][][] values;
    private int capacity;
    private int size;

    public KvCache(LlamaConfig config, int maxTokens, KvPrecision precision) {
        if (maxTokens <= 0) throw new IllegalArgumentException("maxTokens must be positive");
        this.layers = config.blockCount();
        this.kvHeads = config.kvHeadCount();
        this.headSize = config.headSize();
        this.maxTokens = maxTokens;
        this.precision = precision;
        this.capacity = Math.min(maxTokens, 256);
        this.keys = new float[layers][kvHeads][capacity * headSize];
        this.values = new float[layers][kvHeads][capacity * headSize];
    }

    public int size() {
        return size;
    }

    public int maxTokens() {
        return maxTokens;
    }

    public KvPrecision precision() {
        return precision;
    }

    /** Makes room for {@code more} positions after the current ones. */
    void reserve(int more) {
        int need = size + more;
        if (need > maxTokens) {
            throw new IllegalStateException("context full: " + size + " + " + more + " tokens exceed the limit of " + maxTokens);
        }
        if (need <= capacity) return;
        int newCapacity = Math.min(maxTokens, Math.max(need, capacity * 2));
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                keys[l][h] = Arrays.copyOf(keys[l][h], newCapacity * headSize);
                values[l][h] = Arrays.copyOf(values[l][h], newCapacity * headSize);
            }
        }
        capacity = newCapacity;
    }

    /** Stores one position's keys and values (all KV heads side by side, as projected) for a layer. */
    void put(int layer, int position, float[] k, float[] v) {
        int base = position * headSize;
        for (int h = 0; h < kvHeads; h++) {
            float[] kd = keys[layer][h], vd = values[layer][h];
            int src = h * headSize;
            if (precision == KvPrecision.F16) {
                for (int i = 0; i < headSize; i++) {
                    kd[base + i] = Numerics.roundToF16(k[src + i]);
                    vd[base + i] = Numerics.roundToF16(v[src + i]);
                }
            } else {
                System.arraycopy(k, src, kd, base, headSize);
                System.arraycopy(v, src, vd, base, headSize);
            }
        }
    }

    /** Marks {@code n} more positions as filled (after their {@link #put} calls for every layer). */
    void advance(int n) {
        size += n;
    }

    /** One KV head's keys: position p at [p * headSize, (p + 1) * headSize). */
    float[] keys(int layer, int kvHead) {
        return keys[layer][kvHead];
    }

    float[] values(int layer, int kvHead) {
        return values[layer][kvHead];
    }

    /** Forgets everything (the storage is kept for reuse). */
    public void clear() {
        size = 0;
    }

    /** Bytes of key/value storage in use: positions x layers x kvDim x 2 x element size. */
    public long bytesInUse() {
        int element = precision == KvPrecision.F16 ? 2 : 4;
        return (long) size * layers * kvHeads * headSize * 2 * element;
    }
}
