package io.razorstream.engine.attention;

/**
 * MoA-style per-head windows (Mixture of Sparse Attention, Fu et al. 2024): each KV head gets its own elastic window, a
 * share {@code 1 / C} of the tokens so far (at least {@code minWindow}), or its whole cache. The shares come from
 * profiling: for each head and each candidate {@code C}, how much windowing that head alone moves the model
 * ({@code lost}: KL from the full model over a probe; 0 for the whole cache). {@link #policy} spends a budget of
 * entries where it saves the most.
 */
public record SpanProfile(int[] compressions, double[][][] lost, int sinks, int minWindow) {
    /** The candidate shares: 1/64 ... 1/2 of the tokens so far; a head may also stay FULL (it then misses nothing). */
    public static final int[] COMPRESSIONS = {64, 32, 16, 8, 4, 2};

    public SpanProfile {
        for (double[][] layer : lost)
            for (double[] head : layer) {
                if (head.length != compressions.length)
                    throw new IllegalArgumentException("one lost mass per candidate share");
            }
    }

    /**
     * The policy with the least total loss whose heads hold at most {@code budget} entries after {@code tokens} tokens:
     * every head starts at the smallest window, then the upgrade that saves the most loss per entry added is taken
     * while it fits (a greedy walk along each head's curve, as MoA's search spends its density budget).
     */
    public KvPolicy policy(long budget, int tokens) {
        int layers = lost.length, kvHeads = lost[0].length, full = compressions.length;
        int[][] choice = new int[layers][kvHeads]; // index into compressions, or `full`
        long used = 0;
        for (int l = 0; l < layers; l++) for (int k = 0; k < kvHeads; k++) used += spec(0).entries(tokens, -1);
        while (true) {
            double best = 0;
            int bl = -1, bk = -1, bj = -1;
            long bCost = 0;
            for (int l = 0; l < layers; l++) {
                for (int k = 0; k < kvHeads; k++) {
                    int i = choice[l][k];
                    for (int j = i + 1; j <= full; j++) {
                        long cost = spec(j).entries(tokens, -1) - spec(i).entries(tokens, -1);
                        double saved = lostAt(l, k, i) - lostAt(l, k, j);
                        if (cost <= 0 || used + cost > budget) continue;
                        if (saved / cost > best) {
                            best = saved / cost;
                            bl = l;
                            bk = k;
                            bj = j;
                            bCost = cost;
                        }
                    }
                }
            }
            if (bl < 0) break;
            choice[bl][bk] = bj;
            used += bCost;
        }
        HeadSpec[][] specs = new HeadSpec[layers][kvHeads];
        for (int l = 0; l < layers; l++) for (int k = 0; k < kvHeads; k++) specs[l][k] = spec(choice[l][k]);
        return new KvPolicy(specs);
    }

    private HeadSpec spec(int i) {
        return i == compressions.length
                ? HeadSpec.FULL
                : new HeadSpec.Window(new WindowParams(sinks, minWindow, compressions[i], false));
    }

    private double lostAt(int layer, int kvHead, int i) {
        return i == compressions.length ? 0 : lost[layer][kvHead][i];
    }
}
