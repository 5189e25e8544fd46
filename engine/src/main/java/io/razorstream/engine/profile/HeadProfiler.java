package io.razorstream.engine.profile;

import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.ModelConfig;
import io.razorstream.engine.model.Transformer;
import io.razorstream.engine.tokenizer.Vocabulary;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * Finds retrieval heads with RazorAttention's echo/induction probe (../shared/docs/RAZOR.md, section 2): BOS, then K
 * random ordinary tokens repeated 4 times, run with full attention while every head's probabilities are scored;
 * averaged over several seeds; ranked over all (layer, KV head) pairs.
 */
public final class HeadProfiler {
    /** The paper's K; shorter contexts use floor((context - 1) / 4). */
    public static final int PAPER_PERIOD = 2500;

    public record Options(int seeds, double inductionRatio, double echoRatio, int period) {
        public static final Options DEFAULT = new Options(3, 0.14, 0.01, 0);

        public Options {
            if (seeds < 1) throw new IllegalArgumentException("seeds must be >= 1");
            if (!(inductionRatio >= 0 && inductionRatio <= 1) || !(echoRatio >= 0 && echoRatio <= 1)) {
                throw new IllegalArgumentException("ratios must be in [0, 1]");
            }
            if (period < 0) throw new IllegalArgumentException("period must be >= 0 (0: from the context length)");
        }
    }

    private HeadProfiler() {}

    /** K for a model: the option if set, else min(2500, floor((context - 1) / 4)). */
    public static int period(ModelConfig config, Options options) {
        int fit = (config.contextLength() - 1) / 4;
        int k = options.period() > 0 ? options.period() : Math.min(PAPER_PERIOD, fit);
        if (k < 2 || k > fit)
            throw new IllegalArgumentException(
                    "probe period " + k + " does not fit the context of " + config.contextLength());
        return k;
    }

    /**
     * Profiles {@code model}. {@code progress} receives the number of probe tokens processed so far (of seeds x (4K +
     * 1)), for a progress bar; it may be null.
     */
    public static HeadProfile profile(
            Transformer model,
            Vocabulary vocab,
            String fingerprint,
            Options options,
            Parallel parallel,
            IntConsumer progress) {
        ModelConfig c = model.config();
        int k = period(c, options);
        int[] ordinary = vocab.ordinaryTokens();
        if (ordinary.length < 2)
            throw new IllegalArgumentException("the vocabulary has no ordinary tokens to probe with");
        double[][] echo = new double[c.blockCount()][c.headCount()],
                induction = new double[c.blockCount()][c.headCount()];
        long[] seeds = new long[options.seeds()];
        int done = 0;
        Decoder prefiller = new Decoder(model, null, parallel, Decoder.PREFILL_BATCH);
        for (int s = 0; s < seeds.length; s++) {
            seeds[s] = s + 1;
            int[] probe = probe(vocab.bos(), ordinary, k, new SplittableRandom(seeds[s]));
            ProbeScorer scorer = new ProbeScorer(c.blockCount(), c.headCount(), k, 1);
            KvCache cache = model.newCache(probe.length, KvPrecision.F32);
            cache.observe(scorer);
            int before = done;
            prefiller.prefill(
                    cache, probe, 0, probe.length, progress == null ? null : n -> progress.accept(before + n));
            done += probe.length;
            for (int l = 0; l < c.blockCount(); l++) {
                for (int h = 0; h < c.headCount(); h++) {
                    echo[l][h] += scorer.echo(l, h) / seeds.length;
                    induction[l][h] += scorer.induction(l, h) / seeds.length;
                }
            }
        }
        double[][] kvEcho = groupMax(echo, c), kvInduction = groupMax(induction, c);
        boolean[][] retrieval = new boolean[c.blockCount()][c.kvHeadCount()];
        // The sliding-window layers' heads are windows by the model's own definition: retrieval heads are chosen among
        // the others.
        boolean[] local = c.slidingWindow().local();
        HeadSelection.top(kvInduction, options.inductionRatio(), retrieval, local);
        HeadSelection.top(kvEcho, options.echoRatio(), retrieval, local);
        boolean[][] inductionOnly = new boolean[c.blockCount()][c.kvHeadCount()];
        HeadSelection.top(kvInduction, options.inductionRatio(), inductionOnly, local);
        Map<String, Object> parameters = new LinkedHashMap<>();
        parameters.put("period", k);
        parameters.put("repeats", 4);
        parameters.put("seeds", seeds);
        parameters.put("inductionRatio", options.inductionRatio());
        parameters.put("echoRatio", options.echoRatio());
        Map<String, double[][]> scores = new LinkedHashMap<>();
        scores.put("echo", echo);
        scores.put("induction", induction);
        scores.put("kvEcho", kvEcho);
        scores.put("kvInduction", kvInduction);
        return new HeadProfile(fingerprint, ProfileMethod.RAZOR, parameters, scores, retrieval, inductionOnly, null);
    }

    /** BOS, then K tokens drawn uniformly from {@code ordinary}, repeated 4 times. */
    static int[] probe(int bos, int[] ordinary, int k, SplittableRandom random) {
        int[] once = new int[k];
        for (int i = 0; i < k; i++) once[i] = ordinary[random.nextInt(ordinary.length)];
        int[] probe = new int[1 + 4 * k];
        probe[0] = bos;
        for (int r = 0; r < 4; r++) System.arraycopy(once, 0, probe, 1 + r * k, k);
        return probe;
    }

    /** A KV head's score: the maximum over the query heads of its group. */
    static double[][] groupMax(double[][] perQueryHead, ModelConfig c) {
        double[][] out = new double[c.blockCount()][c.kvHeadCount()];
        for (int l = 0; l < out.length; l++) {
            for (int h = 0; h < c.headCount(); h++) {
                int kv = h / c.groupSize();
                out[l][kv] = Math.max(out[l][kv], perQueryHead[l][h]);
            }
        }
        return out;
    }
}
