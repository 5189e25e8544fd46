package io.razorstream.engine.profile;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.eval.Evaluation;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.ModelConfig;

import java.util.Arrays;
import java.util.List;

/**
 * DuoAttention's retrieval-head gates (Xiao et al. 2024) on a CPU, with the weights frozen. Each KV head's output is
 * gate x full attention + (1 - gate) x streaming attention ({@link HeadSpec.Gated}: 4 sinks + {@link #RECENT} recent
 * tokens). The gates start at 1 and minimise, as in the paper, a distillation loss plus an L1 penalty: here the KL of
 * the full model's next-token distributions at the needle's copy events ({@link NeedleProfiler}) plus {@link #LAMBDA} x
 * the sum of the gates, each gate clamped to [0, 1] after every step. The paper backpropagates through the model; this
 * engine has no backward pass, so each step's gradient is a finite difference per gate (one forward pass per head).
 * That is exact up to the step {@link #DELTA}, and it costs (heads + 1) passes a step, which is why there are few
 * steps. A head's score is its final gate. Several gates can end pinned at 1 (the loss pulls them harder than the
 * penalty); those are ordered by what closing each one alone costs (the loss with that gate at 0), as the paper's
 * sorted gates would order them after enough steps to come apart.
 */
final class DuoGates {
    static final int RECENT = 64, STEPS = 4;
    static final double LAMBDA = 0.02, DELTA = 0.1, RATE = 2.0;

    private DuoGates() {}

    static double[][] optimise(LoadedModel loaded, List<NeedleProfiler.Probe> probes, Parallel parallel) {
        ModelConfig c = loaded.model().config();
        int layers = c.blockCount(), kvHeads = c.kvHeadCount();
        float[][][] reference = new float[probes.size()][][];
        for (int i = 0; i < probes.size(); i++)
            reference[i] = probes.get(i).copyLogits(loaded.model(), KvPolicy.full(layers, kvHeads), parallel);
        double[][] gate = new double[layers][kvHeads];
        for (double[] row : gate) Arrays.fill(row, 1);
        boolean[] local = c.slidingWindow().local();
        for (int step = 0; step < STEPS; step++) {
            double base = distillation(loaded, probes, reference, gate, parallel);
            double[][] gradient = new double[layers][kvHeads];
            for (int l = 0; l < layers; l++) {
                if (l < local.length && local[l]) continue; // the model windows these heads itself
                for (int k = 0; k < kvHeads; k++) {
                    double[][] moved = copy(gate);
                    double delta = gate[l][k] >= DELTA ? -DELTA : DELTA;
                    moved[l][k] += delta;
                    gradient[l][k] = (distillation(loaded, probes, reference, moved, parallel) - base) / delta + LAMBDA;
                }
            }
            for (int l = 0; l < layers; l++) {
                for (int k = 0; k < kvHeads; k++) {
                    gate[l][k] = Math.clamp(gate[l][k] - RATE * gradient[l][k], 0, 1);
                }
            }
        }
        double[][] score = new double[layers][kvHeads];
        for (int l = 0; l < layers; l++) {
            for (int k = 0; k < kvHeads; k++) {
                score[l][k] = gate[l][k];
                if (gate[l][k] < 1) continue;
                double[][] closed = copy(gate);
                closed[l][k] = 0;
                double cost = distillation(loaded, probes, reference, closed, parallel);
                score[l][k] += 1e-6
                        * cost
                        / (1 + cost); // below any gate step, monotone in the cost: orders the pinned gates only
            }
        }
        return score;
    }

    /** Mean KL(full || gated) over the probes' copy events. */
    static double distillation(
            LoadedModel loaded,
            List<NeedleProfiler.Probe> probes,
            float[][][] reference,
            double[][] gate,
            Parallel parallel) {
        ModelConfig c = loaded.model().config();
        WindowParams streaming = new WindowParams(4, RECENT, Integer.MAX_VALUE, false);
        HeadSpec[][] specs = new HeadSpec[c.blockCount()][c.kvHeadCount()];
        for (int l = 0; l < specs.length; l++) {
            for (int k = 0; k < specs[l].length; k++)
                specs[l][k] = gate[l][k] >= 1 ? HeadSpec.FULL : new HeadSpec.Gated((float) gate[l][k], streaming);
        }
        KvPolicy policy = new KvPolicy(specs);
        double kl = 0;
        int n = 0;
        for (int i = 0; i < probes.size(); i++) {
            float[][] logits = probes.get(i).copyLogits(loaded.model(), policy, parallel);
            for (int e = 0; e < logits.length; e++) {
                kl += Evaluation.kl(reference[i][e], logits[e]);
                n++;
            }
        }
        return kl / n;
    }

    private static double[][] copy(double[][] m) {
        double[][] out = new double[m.length][];
        for (int i = 0; i < m.length; i++) out[i] = m[i].clone();
        return out;
    }
}
