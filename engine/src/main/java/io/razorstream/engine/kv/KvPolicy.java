package io.razorstream.engine.kv;

import java.util.Arrays;

/**
 * The cache policy of a model: a {@link HeadPolicy} per (layer, KV head) and the window of the
 * {@link HeadPolicy#WINDOW WINDOW} heads. RazorAttention keeps its retrieval heads FULL and windows
 * the rest; an all-FULL policy is the ordinary cache.
 */
public final class KvPolicy {
    private final HeadPolicy[][] heads;
    private final WindowParams window;
    private final int heavyBudget, heavyRecent; // H2O: budget and recent; SnapKV: budget and window

    public KvPolicy(HeadPolicy[][] heads, WindowParams window) {
        this(heads, window, 0, 0);
    }

    private KvPolicy(HeadPolicy[][] heads, WindowParams window, int heavyBudget, int heavyRecent) {
        this.heads = new HeadPolicy[heads.length][];
        for (int l = 0; l < heads.length; l++) this.heads[l] = heads[l].clone();
        this.window = window;
        this.heavyBudget = heavyBudget;
        this.heavyRecent = heavyRecent;
    }

    /** H2O on every head: at most {@code budget} tokens each, the {@code recent} newest always among them. */
    public static KvPolicy heavyHitters(int layers, int kvHeads, int budget, int recent) {
        HeadPolicy[][] h = new HeadPolicy[layers][kvHeads];
        for (HeadPolicy[] row : h) Arrays.fill(row, HeadPolicy.HEAVY_HITTERS);
        new HeavyHitterHead(1, budget, recent); // validates the parameters now, not at the first token
        return new KvPolicy(h, WindowParams.PAPER, budget, recent);
    }

    /** SnapKV on every head: compressed once to {@code budget} tokens (the newest {@code window} among them) by {@link io.razorstream.engine.llama.KvCache#compressNow()}. */
    public static KvPolicy snapKV(int layers, int kvHeads, int budget, int window) {
        HeadPolicy[][] h = new HeadPolicy[layers][kvHeads];
        for (HeadPolicy[] row : h) Arrays.fill(row, HeadPolicy.SNAPKV);
        new SnapHead(1, budget, window, SNAP_OBSERVE);
        return new KvPolicy(h, WindowParams.PAPER, budget, window);
    }

    /** SnapKV's observation window: the last 32 queries of the prompt. */
    static final int SNAP_OBSERVE = 32;

    /** A new head cache for (layer, kvHead), or null for a FULL head (the cache stores those itself). */
    public CompressedHead newHead(int layer, int kvHead, int headSize) {
        return switch (heads[layer][kvHead]) {
            case FULL -> null;
            case WINDOW -> new WindowHead(headSize, window);
            case HEAVY_HITTERS -> new HeavyHitterHead(headSize, heavyBudget, heavyRecent);
            case SNAPKV -> new SnapHead(headSize, heavyBudget, heavyRecent, SNAP_OBSERVE);
        };
    }

    public static KvPolicy full(int layers, int kvHeads) {
        HeadPolicy[][] h = new HeadPolicy[layers][kvHeads];
        for (HeadPolicy[] row : h) Arrays.fill(row, HeadPolicy.FULL);
        return new KvPolicy(h, WindowParams.PAPER);
    }

    /** RazorAttention: the given retrieval heads FULL, every other head windowed. */
    public static KvPolicy razor(boolean[][] retrieval, WindowParams window) {
        HeadPolicy[][] h = new HeadPolicy[retrieval.length][];
        for (int l = 0; l < retrieval.length; l++) {
            h[l] = new HeadPolicy[retrieval[l].length];
            for (int k = 0; k < h[l].length; k++) h[l][k] = retrieval[l][k] ? HeadPolicy.FULL : HeadPolicy.WINDOW;
        }
        return new KvPolicy(h, window);
    }

    public HeadPolicy policy(int layer, int kvHead) {
        return heads[layer][kvHead];
    }

    public WindowParams window() {
        return window;
    }

    public int layers() {
        return heads.length;
    }

    public int kvHeads() {
        return heads.length == 0 ? 0 : heads[0].length;
    }
}
