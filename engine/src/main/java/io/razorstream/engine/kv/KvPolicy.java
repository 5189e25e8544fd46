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

    public KvPolicy(HeadPolicy[][] heads, WindowParams window) {
        this.heads = new HeadPolicy[heads.length][];
        for (int l = 0; l < heads.length; l++) this.heads[l] = heads[l].clone();
        this.window = window;
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
