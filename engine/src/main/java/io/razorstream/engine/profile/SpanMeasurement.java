package io.razorstream.engine.profile;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.SpanProfile;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.eval.Evaluation;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.ModelConfig;

import java.util.Arrays;
import java.util.List;

/**
 * Profiles the MoA-style windows ({@link SpanProfile}) on the needle probes ({@link NeedleProfiler}: text the model
 * samples itself, a needle planted in it and copied at the end: the long-range dependency MoA chooses its calibration
 * data for). MoA scores a head's span by its influence on the loss (attention times its gradient); this engine has no
 * backward pass, so the influence is measured directly: for each KV head and each candidate share 1/C, the model runs
 * with that one head windowed (sinks + max(minWindow, tokens so far / C)), and the head's figure is the KL from the
 * full model's next-token distributions over each probe's second half. The loss, not the attention mass or the head's
 * own output error: the first layer's broad heads miss most of their mass in a window and barely move the output
 * (docs/FIDELITY.md). It costs heads x candidates runs over the probes: minutes for the small models here, hours for a
 * 1B model on two cores.
 */
public final class SpanMeasurement {
    private SpanMeasurement() {}

    public static SpanProfile measure(LoadedModel loaded, int seeds, int sinks, int minWindow, Parallel parallel) {
        ModelConfig c = loaded.model().config();
        List<NeedleProfiler.Probe> probes = NeedleProfiler.probes(loaded, seeds, parallel);
        int[] compressions = SpanProfile.COMPRESSIONS;
        int layers = c.blockCount(), kvHeads = c.kvHeadCount();
        KvPolicy full = KvPolicy.full(layers, kvHeads);
        float[][][] reference = new float[probes.size()][][];
        for (int p = 0; p < probes.size(); p++) reference[p] = secondHalf(loaded, probes.get(p), full, parallel);
        boolean[] local = c.slidingWindow().local();
        double[][][] kl = new double[layers][kvHeads][compressions.length];
        for (int l = 0; l < layers; l++) {
            if (l < local.length && local[l]) continue; // the model windows these heads itself
            for (int k = 0; k < kvHeads; k++) {
                for (int i = 0; i < compressions.length; i++) {
                    HeadSpec[][] specs = new HeadSpec[layers][kvHeads];
                    for (HeadSpec[] row : specs) Arrays.fill(row, HeadSpec.FULL);
                    specs[l][k] = new HeadSpec.Window(new WindowParams(sinks, minWindow, compressions[i], false));
                    KvPolicy one = new KvPolicy(specs);
                    double sum = 0;
                    int n = 0;
                    for (int p = 0; p < probes.size(); p++) {
                        float[][] logits = secondHalf(loaded, probes.get(p), one, parallel);
                        for (int t = 0; t < logits.length; t++, n++) sum += Evaluation.kl(reference[p][t], logits[t]);
                    }
                    kl[l][k][i] = sum / n;
                }
            }
        }
        return new SpanProfile(compressions, kl, sinks, minWindow);
    }

    /** Teacher-forced logits over the probe's second half under {@code policy}. */
    private static float[][] secondHalf(
            LoadedModel loaded, NeedleProfiler.Probe probe, KvPolicy policy, Parallel parallel) {
        int[] tokens = probe.tokens();
        int from = tokens.length / 2;
        return Evaluation.teacherForced(
                loaded.model(),
                loaded.model().newCache(tokens.length, KvPrecision.F16, policy),
                tokens,
                from,
                tokens.length - from,
                parallel);
    }
}
