package io.razorstream.engine.sampling;

/**
 * Sampling parameters, with llama.cpp's defaults. {@code temperature <= 0} means greedy (argmax, lowest id on ties).
 * {@code topK <= 0}, {@code topP >= 1}, {@code minP <= 0} and {@code repeatPenalty == 1} disable their step.
 */
public record SamplerConfig(
        float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN, long seed) {

    public static final SamplerConfig DEFAULT = new SamplerConfig(0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 42L);
    public static final SamplerConfig GREEDY = new SamplerConfig(0f, 0, 1f, 0f, 1f, 0, 0L);

    public SamplerConfig {
        if (Float.isNaN(temperature)) throw new IllegalArgumentException("temperature must be a number");
        if (topP <= 0 || topP > 1 || Float.isNaN(topP))
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (minP < 0 || minP > 1 || Float.isNaN(minP))
            throw new IllegalArgumentException("min-p must be in [0, 1], got " + minP);
        if (repeatPenalty <= 0 || Float.isNaN(repeatPenalty))
            throw new IllegalArgumentException("repeat penalty must be > 0, got " + repeatPenalty);
        if (repeatLastN < 0) throw new IllegalArgumentException("repeat-last-n must be >= 0, got " + repeatLastN);
    }

    public boolean greedy() {
        return temperature <= 0;
    }
}
