package io.razorstream.engine.attention;

import java.util.Arrays;

/**
 * The cache policy of a model: a {@link HeadSpec} per (layer, KV head). RazorAttention keeps its retrieval heads FULL
 * and windows the rest; an all-FULL policy is the ordinary cache; H2O and SnapKV are baselines. Any grid of specs is a
 * policy, and the state store persists and reloads any of them.
 */
public final class KvPolicy {
    /** SnapKV's observation window: the last 32 queries of the prompt. */
    public static final int SNAP_OBSERVE = 32;

    private final HeadSpec[][] heads;

    public KvPolicy(HeadSpec[][] heads) {
        if (heads.length == 0 || heads[0].length == 0)
            throw new IllegalArgumentException("a policy needs at least one head");
        this.heads = new HeadSpec[heads.length][];
        for (int l = 0; l < heads.length; l++) {
            if (heads[l].length != heads[0].length)
                throw new IllegalArgumentException(
                        "layer " + l + " has " + heads[l].length + " heads, layer 0 " + heads[0].length);
            this.heads[l] = heads[l].clone();
            for (HeadSpec s : this.heads[l])
                if (s == null) throw new IllegalArgumentException("layer " + l + " has a head without a spec");
        }
    }

    /** The same spec on every head. */
    public static KvPolicy uniform(int layers, int kvHeads, HeadSpec spec) {
        HeadSpec[][] h = new HeadSpec[layers][kvHeads];
        for (HeadSpec[] row : h) Arrays.fill(row, spec);
        return new KvPolicy(h);
    }

    public static KvPolicy full(int layers, int kvHeads) {
        return uniform(layers, kvHeads, HeadSpec.FULL);
    }

    /** H2O on every head: at most {@code budget} tokens each, the {@code recent} newest always among them. */
    public static KvPolicy heavyHitters(int layers, int kvHeads, int budget, int recent) {
        return uniform(layers, kvHeads, new HeadSpec.HeavyHitters(budget, recent));
    }

    /**
     * SnapKV on every head: compressed once to {@code budget} tokens (the newest {@code window} among them) by
     * {@link KvCache#compressNow()}.
     */
    public static KvPolicy snapKV(int layers, int kvHeads, int budget, int window) {
        return uniform(layers, kvHeads, new HeadSpec.Snap(budget, window, SNAP_OBSERVE));
    }

    /**
     * RazorAttention: the given retrieval heads FULL, every other head windowed (with a compensation token if
     * {@code window} says so).
     */
    public static KvPolicy razor(boolean[][] retrieval, WindowParams window) {
        boolean[][] all = new boolean[retrieval.length][retrieval[0].length];
        for (boolean[] row : all) Arrays.fill(row, window.compensate());
        return razor(retrieval, all, window);
    }

    /**
     * RazorAttention with the compensation token where {@code compensated} says (a calibrated profile's choice,
     * {@code CompensationCalibration}): the retrieval heads FULL, the others windowed.
     */
    public static KvPolicy razor(boolean[][] retrieval, boolean[][] compensated, WindowParams window) {
        HeadSpec.Window with = new HeadSpec.Window(
                new WindowParams(window.sinks(), window.minWindow(), window.compression(), true, window.maxWindow()));
        HeadSpec.Window without = new HeadSpec.Window(window.withoutCompensation());
        HeadSpec[][] h = new HeadSpec[retrieval.length][];
        for (int l = 0; l < retrieval.length; l++) {
            h[l] = new HeadSpec[retrieval[l].length];
            for (int k = 0; k < h[l].length; k++)
                h[l][k] = retrieval[l][k] ? HeadSpec.FULL : compensated[l][k] ? with : without;
        }
        return new KvPolicy(h);
    }

    /**
     * This policy with every head of the model's local layers ({@code local[l]}) holding the model's own sliding window
     * of {@code size} tokens ({@link WindowParams#sliding}): the model defines those heads, so that spec wins over
     * whatever this policy says there. The same policy when the model has no window.
     */
    public KvPolicy withSlidingLayers(boolean[] local, int size) {
        if (size <= 0) return this;
        HeadSpec.Window sliding = new HeadSpec.Window(WindowParams.sliding(size));
        HeadSpec[][] h = new HeadSpec[heads.length][];
        boolean changed = false;
        for (int l = 0; l < heads.length; l++) {
            h[l] = heads[l].clone();
            if (l < local.length && local[l]) {
                for (int k = 0; k < h[l].length; k++) {
                    changed |= !h[l][k].equals(sliding);
                    h[l][k] = sliding;
                }
            }
        }
        return changed ? new KvPolicy(h) : this;
    }

    /**
     * This policy with the heads marked in {@code masked} taken out ({@link HeadSpec#MASKED}): the causal check of
     * `eval --mask-heads`.
     */
    public KvPolicy withMasked(boolean[][] masked) {
        HeadSpec[][] h = new HeadSpec[heads.length][];
        for (int l = 0; l < heads.length; l++) {
            h[l] = heads[l].clone();
            for (int k = 0; k < h[l].length; k++) if (masked[l][k]) h[l][k] = HeadSpec.MASKED;
        }
        return new KvPolicy(h);
    }

    /** Whether (layer, kvHead) holds a model's own sliding window ({@link #withSlidingLayers}). */
    public boolean isSliding(int layer, int kvHead) {
        return heads[layer][kvHead].isSliding();
    }

    public HeadSpec spec(int layer, int kvHead) {
        return heads[layer][kvHead];
    }

    public boolean isFull(int layer, int kvHead) {
        return heads[layer][kvHead] instanceof HeadSpec.Full;
    }

    public int layers() {
        return heads.length;
    }

    public int kvHeads() {
        return heads[0].length;
    }

    /**
     * Entries the policy's heads hold after {@code tokens} tokens, compensation tokens included (see
     * {@link HeadSpec#entries}).
     */
    public long entries(long tokens, long promptTokens) {
        long entries = 0;
        for (HeadSpec[] row : heads) for (HeadSpec s : row) entries += s.entries(tokens, promptTokens);
        return entries;
    }

    /**
     * Bytes the policy's heads keep after {@code tokens} tokens (the prompt ended after {@code promptTokens}, -1: not
     * yet).
     */
    public long bytes(long tokens, long promptTokens, int headSize, int vectorBytes) {
        long bytes = 0;
        for (HeadSpec[] row : heads)
            for (HeadSpec s : row) bytes += s.bytes(tokens, promptTokens, headSize, vectorBytes);
        return bytes;
    }

    /** The compression figure everywhere it is shown: full-cache bytes over kept bytes (1 for an empty cache). */
    public static double compressionRatio(long fullBytes, long keptBytes) {
        return keptBytes == 0 ? 1 : fullBytes / (double) keptBytes;
    }

    /**
     * What an ordinary cache of the same tokens keeps at the same precision: every head FULL, except the heads of a
     * model's sliding-window layers, which an ordinary cache of that model windows too (so a compression figure counts
     * only what the policy adds to the model's own windows).
     */
    public long fullBytes(long tokens, int headSize, int vectorBytes) {
        long bytes = 0;
        for (HeadSpec[] row : heads) {
            for (HeadSpec s : row)
                bytes += (s.isSliding() ? s : HeadSpec.FULL).bytes(tokens, -1, headSize, vectorBytes);
        }
        return bytes;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof KvPolicy p && Arrays.deepEquals(heads, p.heads);
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(heads);
    }
}
