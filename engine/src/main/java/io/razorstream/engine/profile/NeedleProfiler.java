package io.razorstream.engine.profile;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.eval.Evaluation;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.Ops;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.ModelConfig;
import io.razorstream.engine.model.Transformer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The head finders that watch the model copy a needle: a haystack of the model's own text with a needle of random
 * ordinary tokens planted in it, then the needle again, teacher-forced. While the model reads the second copy, each of
 * its tokens predicts the next needle token, which sits in the first copy: a copy event.
 *
 * <ul>
 *   <li>{@link ProfileMethod#RETRIEVAL_SCORE} (Wu et al. 2024): at each copy event the model gets right, a query head
 *       scores a hit when its strongest attention lands on the token being copied; its score is hits / events.
 *   <li>{@link ProfileMethod#INFLUENCE} (AttentionInfluence): a KV head's score is how much the needle's loss (nats per
 *       copied token) rises when the head is masked ({@link HeadSpec#MASKED}): a causal check.
 *   <li>{@link ProfileMethod#DUO}: see {@link DuoGates}.
 * </ul>
 *
 * The heads with the top {@code inductionRatio} of scores are the retrieval heads (the option's name is the razor
 * method's; here it is the share of heads chosen).
 */
public final class NeedleProfiler {
    /** Needle length in tokens, haystack length, and the depths the needle is planted at. */
    static final int NEEDLE = 16, HAYSTACK = 480;

    static final double[] DEPTHS = {0.1, 0.5, 0.9};

    /** One probe: its tokens, where the first copy of the needle starts, and where the second one starts. */
    record Probe(int[] tokens, int first, int second) {
        /** The copy events: second-copy positions whose next token is a needle token. */
        int events() {
            return NEEDLE - 1;
        }

        /** The logits at the copy events under {@code policy} (teacher forcing). */
        float[][] copyLogits(Transformer model, KvPolicy policy, Parallel parallel) {
            return Evaluation.teacherForced(
                    model, model.newCache(tokens.length, KvPrecision.F16, policy), tokens, second, events(), parallel);
        }
    }

    private NeedleProfiler() {}

    public static HeadProfile profile(
            LoadedModel loaded, ProfileMethod method, HeadProfiler.Options options, Parallel parallel) {
        ModelConfig c = loaded.model().config();
        List<Probe> probes = probes(loaded, options.seeds(), parallel);
        Map<String, double[][]> scores = new LinkedHashMap<>();
        double[][] kv;
        switch (method) {
            case RETRIEVAL_SCORE -> {
                double[][] perHead = retrievalScores(loaded, probes, parallel);
                scores.put("retrievalScore", perHead);
                kv = HeadProfiler.groupMax(perHead, c);
                scores.put("kvRetrievalScore", kv);
            }
            case INFLUENCE -> {
                kv = influence(loaded, probes, parallel);
                scores.put("kvInfluence", kv);
            }
            case DUO -> {
                kv = DuoGates.optimise(loaded, probes, parallel);
                scores.put("kvGate", kv);
            }
            default -> throw new IllegalArgumentException(method.label() + " is not a needle method");
        }
        boolean[][] retrieval = new boolean[c.blockCount()][c.kvHeadCount()];
        HeadSelection.top(
                kv, options.inductionRatio(), retrieval, c.slidingWindow().local());
        Map<String, Object> parameters = new LinkedHashMap<>();
        parameters.put("needleTokens", NEEDLE);
        parameters.put("haystackTokens", HAYSTACK);
        parameters.put("probes", probes.size());
        parameters.put("ratio", options.inductionRatio());
        return new HeadProfile(loaded.gguf().fingerprint(), method, parameters, scores, retrieval, null, null);
    }

    /** {@code seeds} x the depths: haystacks the model samples itself, needles of random ordinary tokens. */
    static List<Probe> probes(LoadedModel loaded, int seeds, Parallel parallel) {
        int[] ordinary = loaded.tokenizer().vocabulary().ordinaryTokens();
        if (ordinary.length < 2)
            throw new IllegalArgumentException("the vocabulary has no ordinary tokens to make a needle of");
        int haystack = Math.min(HAYSTACK, loaded.model().config().contextLength() - 2 * NEEDLE - 1);
        if (haystack < 2 * NEEDLE)
            throw new IllegalArgumentException("the model's context is too short for a needle probe");
        List<Probe> probes = new ArrayList<>();
        for (int s = 1; s <= seeds; s++) {
            int[] hay = CompensationCalibration.sample(loaded, haystack, 2000 + s, parallel);
            SplittableRandom random = new SplittableRandom(s);
            for (double depth : DEPTHS) {
                int[] needle = new int[NEEDLE];
                for (int i = 0; i < NEEDLE; i++) needle[i] = ordinary[random.nextInt(ordinary.length)];
                int at = 1 + (int) Math.round(depth * (hay.length - 1)); // after the first (BOS) token
                int[] tokens = new int[hay.length + 2 * NEEDLE];
                System.arraycopy(hay, 0, tokens, 0, at);
                System.arraycopy(needle, 0, tokens, at, NEEDLE);
                System.arraycopy(hay, at, tokens, at + NEEDLE, hay.length - at);
                System.arraycopy(needle, 0, tokens, hay.length + NEEDLE, NEEDLE);
                probes.add(new Probe(tokens, at, hay.length + NEEDLE));
            }
        }
        return probes;
    }

    /** Wu et al.'s retrieval score per query head, over the copy events the model gets right. */
    static double[][] retrievalScores(LoadedModel loaded, List<Probe> probes, Parallel parallel) {
        ModelConfig c = loaded.model().config();
        double[][] hits = new double[c.blockCount()][c.headCount()];
        long events = 0;
        Decoder prefiller = new Decoder(loaded.model(), null, parallel, Decoder.PREFILL_BATCH);
        for (Probe probe : probes) {
            int[] argmax = new int[c.blockCount() * c.headCount() * NEEDLE];
            KvCache cache = loaded.model().newCache(probe.tokens().length, KvPrecision.F32);
            cache.observe((layer, head, position, p, length, values) -> {
                int k = position - probe.second();
                if (k < 0 || k >= probe.events()) return;
                int best = 0;
                for (int j = 1; j < length; j++) if (p[j] > p[best]) best = j;
                argmax[(layer * c.headCount() + head) * NEEDLE + k] = best;
            });
            prefiller.prefill(cache, probe.tokens(), 0, probe.second(), null);
            float[][] logits = prefiller.prefillAll(cache, probe.tokens(), probe.second(), NEEDLE);
            for (int k = 0; k < probe.events(); k++) {
                int copied = probe.tokens()[probe.second() + k + 1];
                if (Ops.argmax(logits[k]) != copied) continue; // the model did not copy here
                events++;
                for (int l = 0; l < c.blockCount(); l++) {
                    for (int h = 0; h < c.headCount(); h++)
                        if (argmax[(l * c.headCount() + h) * NEEDLE + k] == probe.first() + k + 1) hits[l][h]++;
                }
            }
        }
        if (events == 0) {
            throw new IllegalArgumentException("the model copied none of the needle tokens of " + probes.size()
                    + " probes: the retrieval score needs a model that copies (try --method razor or influence)");
        }
        for (double[] row : hits) for (int h = 0; h < row.length; h++) row[h] /= events;
        return hits;
    }

    /** Per KV head: the rise of the needle's loss (nats per copied token) when the head is masked, floored at 0. */
    static double[][] influence(LoadedModel loaded, List<Probe> probes, Parallel parallel) {
        ModelConfig c = loaded.model().config();
        KvPolicy full = KvPolicy.full(c.blockCount(), c.kvHeadCount());
        double base = needleLoss(loaded, probes, full, parallel);
        boolean[] local = c.slidingWindow().local();
        double[][] rise = new double[c.blockCount()][c.kvHeadCount()];
        for (int l = 0; l < c.blockCount(); l++) {
            if (l < local.length && local[l]) continue; // the model windows these heads itself
            for (int k = 0; k < c.kvHeadCount(); k++) {
                boolean[][] one = new boolean[c.blockCount()][c.kvHeadCount()];
                one[l][k] = true;
                rise[l][k] = Math.max(0, needleLoss(loaded, probes, full.withMasked(one), parallel) - base);
            }
        }
        return rise;
    }

    /** Mean cross-entropy of the copied needle tokens (teacher forcing) under {@code policy}. */
    static double needleLoss(LoadedModel loaded, List<Probe> probes, KvPolicy policy, Parallel parallel) {
        double loss = 0;
        int n = 0;
        for (Probe probe : probes) {
            float[][] logits = probe.copyLogits(loaded.model(), policy, parallel);
            for (int k = 0; k < probe.events(); k++) {
                loss -= Evaluation.logProbability(logits[k], probe.tokens()[probe.second() + k + 1]);
                n++;
            }
        }
        return loss / n;
    }
}
