package io.razorstream.engine.attention;

/**
 * How a head turns the dot product of a query and a key into an attention logit, and how it rounds the probabilities,
 * as llama.cpp's graph does: the dot product is softcapped first when the model has a cap (gemma2: {@code cap *
 * tanh(dot / cap)}), then multiplied by the scale (1 where the query was scaled before); with
 * {@code roundProbabilities} (an F16 cache) the softmax output is rounded to F16 before it weights the values.
 */
public record Scores(float scale, float softcap, boolean roundProbabilities) {
    public Scores {
        if (!(softcap >= 0)) throw new IllegalArgumentException("softcap must be >= 0 (0: none), got " + softcap);
    }

    /** Scaled dot products, no cap, probabilities unrounded. */
    public static Scores scaled(float scale) {
        return new Scores(scale, 0, false);
    }

    /** The logit of a query-key dot product. */
    public float logit(float dot) {
        if (softcap > 0) dot = (float) Math.tanh(dot * (1f / softcap)) * softcap;
        return dot * scale;
    }

    /** {@link #logit(float)} in double, for the baselines' exact attention. */
    public double logit(double dot) {
        if (softcap > 0) dot = Math.tanh(dot / softcap) * softcap;
        return dot * scale;
    }
}
