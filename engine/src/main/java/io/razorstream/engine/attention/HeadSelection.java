package io.razorstream.engine.attention;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Random;

/**
 * Which (layer, KV head)s a policy keeps FULL, chosen one of three ways: the best-scored (the head profile), at random
 * with a seed (the controls of eval and bench), or spread evenly (the store benchmark). Heads are listed layer-major
 * everywhere, so a seed picks the same heads in every tool.
 */
public final class HeadSelection {
    private HeadSelection() {}

    /** How many of {@code heads} a {@code ratio} keeps: ceil(ratio x heads), so that 0.1 of 10 heads is 1, not 2. */
    public static int count(double ratio, int heads) {
        if (ratio < 0 || ratio > 1)
            throw new IllegalArgumentException("a ratio of heads must be in [0, 1], got " + ratio);
        return (int) Math.ceil(ratio * heads - 1e-9);
    }

    /**
     * Marks in {@code chosen} the {@link #count} of the highest {@code score}s (ties: lower layer, then lower head).
     */
    public static void top(double[][] score, double ratio, boolean[][] chosen) {
        top(score, ratio, chosen, new boolean[0]);
    }

    /**
     * As {@link #top(double[][], double, boolean[][])} among the heads of the layers not marked in
     * {@code skippedLayers} (a model's sliding-window layers, whose heads the model itself windows): the ratio is of
     * those heads.
     */
    public static void top(double[][] score, double ratio, boolean[][] chosen, boolean[] skippedLayers) {
        boolean[][] exclude = new boolean[score.length][score[0].length];
        for (int l = 0; l < Math.min(skippedLayers.length, score.length); l++)
            Arrays.fill(exclude[l], skippedLayers[l]);
        List<int[]> all = all(score.length, score[0].length, exclude);
        all.sort(Comparator.<int[]>comparingDouble(p -> -score[p[0]][p[1]])
                .thenComparingInt(p -> p[0])
                .thenComparingInt(p -> p[1]));
        int n = count(ratio, all.size());
        for (int i = 0; i < n; i++) chosen[all.get(i)[0]][all.get(i)[1]] = true;
    }

    /**
     * {@code count} heads at random (shuffled with {@code seed}) among those not in {@code exclude} (null: none
     * excluded).
     */
    public static boolean[][] random(int layers, int kvHeads, int count, long seed, boolean[][] exclude) {
        List<int[]> candidates = all(layers, kvHeads, exclude);
        Collections.shuffle(candidates, new Random(seed));
        boolean[][] out = new boolean[layers][kvHeads];
        for (int i = 0; i < Math.min(count, candidates.size()); i++)
            out[candidates.get(i)[0]][candidates.get(i)[1]] = true;
        return out;
    }

    /** The {@link #count} of {@code ratio} heads, spread evenly in layer-major order. */
    public static boolean[][] evenly(int layers, int kvHeads, double ratio) {
        int heads = layers * kvHeads, keep = count(ratio, heads);
        boolean[][] out = new boolean[layers][kvHeads];
        for (int i = 0; i < keep; i++) {
            int at = (int) ((long) i * heads / Math.max(1, keep));
            out[at / kvHeads][at % kvHeads] = true;
        }
        return out;
    }

    /** How many heads are marked. */
    public static int marked(boolean[][] heads) {
        int n = 0;
        for (boolean[] row : heads) for (boolean b : row) if (b) n++;
        return n;
    }

    private static List<int[]> all(int layers, int kvHeads, boolean[][] exclude) {
        List<int[]> out = new ArrayList<>();
        for (int l = 0; l < layers; l++)
            for (int h = 0; h < kvHeads; h++) if (exclude == null || !exclude[l][h]) out.add(new int[] {l, h});
        return out;
    }
}
