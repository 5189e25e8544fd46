package io.razorstream.engine.llama;

import io.razorstream.engine.tensor.Numerics;

import java.util.Arrays;

/**
 * The full KV cache of one sequence: for every layer, post-RoPE keys and values of every position,
 * {@code kvDim} floats per position. Storage grows by doubling up to {@code maxTokens}, so a model with a
 * 128k context does not reserve 128k positions up front.
 */
public final class KvCache {
    private final int layers;
    private final int kvDim;
    private final int maxTokens;
    private final KvPrecision precision;
    private final float[][] keys;
    private final float[][] values;
    private int capacity;
    private int size;

    public KvCache(LlamaConfig config, int maxTokens, KvPrecision precision) {
        if (maxTokens <= 0) throw new IllegalArgumentException("maxTokens must be positive");
        this.layers = config.blockCount();
        this.kvDim = config.kvDim();
        this.maxTokens = maxTokens;
        this.precision = precision;
        this.capacity = Math.min(maxTokens, 256);
        this.keys = new float[layers][capacity * kvDim];
        this.values = new float[layers][capacity * kvDim];
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
            keys[l] = Arrays.copyOf(keys[l], newCapacity * kvDim);
            values[l] = Arrays.copyOf(values[l], newCapacity * kvDim);
        }
        capacity = newCapacity;
    }

    /** Stores one position's key and value rows for a layer (position < size + reserved). */
    void put(int layer, int position, float[] k, float[] v) {
        int base = position * kvDim;
        float[] kd = keys[layer], vd = values[layer];
        if (precision == KvPrecision.F16) {
            for (int i = 0; i < kvDim; i++) {
                kd[base + i] = Numerics.roundToF16(k[i]);
                vd[base + i] = Numerics.roundToF16(v[i]);
            }
        } else {
            System.arraycopy(k, 0, kd, base, kvDim);
            System.arraycopy(v, 0, vd, base, kvDim);
        }
    }

    /** Marks {@code n} more positions as filled (after their {@link #put} calls for every layer). */
    void advance(int n) {
        size += n;
    }

    float[] keys(int layer) {
        return keys[layer];
    }

    float[] values(int layer) {
        return values[layer];
    }

    /** Forgets everything (the storage is kept for reuse). */
    public void clear() {
        size = 0;
    }

    /** Bytes of key/value storage in use: positions x layers x kvDim x 2 x element size. */
    public long bytesInUse() {
        int element = precision == KvPrecision.F16 ? 2 : 4;
        return (long) size * layers * kvDim * 2 * element;
    }
}
