package io.razorstream.engine.profile;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.kernel.Parallel;

import java.util.function.IntConsumer;

/**
 * Makes a model's head profile: the retrieval heads by one {@link ProfileMethod}, then the compensation token's
 * calibration.
 */
public final class Profiling {
    private Profiling() {}

    /**
     * Profiles {@code loaded} with {@code method} ({@code options}' ratios choose the heads from its scores), then
     * calibrates the compensation token unless {@code calibration} is null. {@code progress} (may be null) hears the
     * probe tokens processed so far, as {@link HeadProfiler#profile} counts them.
     */
    public static HeadProfile make(
            LoadedModel loaded,
            ProfileMethod method,
            HeadProfiler.Options options,
            CompensationCalibration.Options calibration,
            Parallel parallel,
            IntConsumer progress) {
        HeadProfile found = switch (method) {
            case RAZOR ->
                HeadProfiler.profile(
                        loaded.model(),
                        loaded.tokenizer().vocabulary(),
                        loaded.gguf().fingerprint(),
                        options,
                        parallel,
                        progress);
            case RETRIEVAL_SCORE, INFLUENCE, DUO -> NeedleProfiler.profile(loaded, method, options, parallel);
        };
        return calibration == null
                ? found
                : found.withCompensation(
                        CompensationCalibration.calibrate(loaded, found.retrieval(), calibration, parallel));
    }
}
