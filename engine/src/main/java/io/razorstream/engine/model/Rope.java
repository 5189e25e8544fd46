package io.razorstream.engine.model;

import io.razorstream.engine.attention.KeyRotation;
import io.razorstream.engine.model.arch.Architecture;

/**
 * The model's rotary position embedding: the angle tables of a forward pass, the rotation of queries and keys, and the
 * re-rotation of cached keys for a context shift. The angles are built as llama.cpp builds them, in float: theta =
 * position, multiplied by thetaScale once per pair (then divided by the frequency factor, if any), so the rounding
 * matches; cos and sin carry the rope's attention factor (1 unless the file sets one), as ggml's mscale.
 */
public final class Rope {
    private final ModelConfig config;
    /**
     * base^(-2/ropeDimensions): the angle of pair i+1 is the angle of pair i times this; for the global and the local
     * layers.
     */
    private final float thetaScale, localThetaScale;

    private final float[] freqFactors;
    private final float attentionFactor;
    private final boolean neox;

    Rope(ModelConfig config, float[] freqFactors, float attentionFactor) {
        this.config = config;
        this.freqFactors = freqFactors;
        this.attentionFactor = attentionFactor;
        this.neox = config.arch().rope() == Architecture.RopeStyle.NEOX;
        this.thetaScale = (float) Math.pow(config.ropeFreqBase(), -2.0 / config.ropeDimensions());
        float localBase = config.slidingWindow().ropeBase();
        boolean ownLocalBase = localBase > 0 && localBase != config.ropeFreqBase();
        this.localThetaScale = ownLocalBase ? (float) Math.pow(localBase, -2.0 / config.ropeDimensions()) : 0f;
    }

    /** Whether the local (sliding-window) layers have a base of their own (gemma3), hence tables of their own. */
    boolean hasLocalBase() {
        return localThetaScale != 0;
    }

    /** Whether {@code layer} takes the local tables. */
    boolean usesLocalTable(int layer) {
        return localThetaScale != 0 && config.isLocal(layer);
    }

    /**
     * cos and sin of every rotated pair's angle at each of the first {@code count} positions (the global or local
     * base).
     */
    void table(float[][] cos, float[][] sin, int[] positions, int count, boolean local) {
        table(cos, sin, local ? localThetaScale : thetaScale, positions, count, attentionFactor);
    }

    private void table(
            float[][] cosTable, float[][] sinTable, float thetaScale, int[] positions, int count, float mscale) {
        for (int t = 0; t < count; t++) {
            float theta = positions[t];
            for (int i = 0; i < config.ropeDimensions() / 2; i++, theta *= thetaScale) {
                float angle = freqFactors != null ? theta / freqFactors[i] : theta;
                cosTable[t][i] = (float) Math.cos(angle) * mscale;
                sinTable[t][i] = (float) Math.sin(angle) * mscale;
            }
        }
    }

    /**
     * Rotates pairs of the first ropeDimensions of every head by one row of the table: adjacent pairs (2i, 2i+1) in
     * llama.cpp's "normal" mode, (i, i + ropeDimensions/2) in NeoX mode (qwen2).
     */
    void rotate(float[] vec, int heads, float[] cos, float[] sin) {
        for (int h = 0; h < heads; h++) rotateHead(vec, h * config.headSize(), cos, sin);
    }

    private void rotateHead(float[] vec, int offset, float[] cos, float[] sin) {
        int half = config.ropeDimensions() / 2;
        for (int i = 0; i < half; i++) {
            int j0 = offset + (neox ? i : 2 * i), j1 = offset + (neox ? i + half : 2 * i + 1);
            float x0 = vec[j0], x1 = vec[j1];
            vec[j0] = x0 * cos[i] - x1 * sin[i];
            vec[j1] = x0 * sin[i] + x1 * cos[i];
        }
    }

    /**
     * The rotation that moves a cached key {@code positions} positions (negative: back, as a context shift does), per
     * layer with its base, style and frequency factors; no attention factor, which the keys already carry.
     */
    public KeyRotation rotationBy(int positions) {
        int half = config.ropeDimensions() / 2;
        int[] position = {positions};
        float[][] cos = new float[1][half], sin = new float[1][half], localCos = cos, localSin = sin;
        table(cos, sin, thetaScale, position, 1, 1f);
        if (localThetaScale != 0) {
            localCos = new float[1][half];
            localSin = new float[1][half];
            table(localCos, localSin, localThetaScale, position, 1, 1f);
        }
        float[] c = cos[0], s = sin[0], lc = localCos[0], ls = localSin[0];
        return (layer, key, offset) -> {
            boolean local = usesLocalTable(layer);
            rotateHead(key, offset, local ? lc : c, local ? ls : s);
        };
    }
}
