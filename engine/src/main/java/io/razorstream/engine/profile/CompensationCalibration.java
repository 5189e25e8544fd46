package io.razorstream.engine.profile;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.ModelConfig;
import io.razorstream.engine.sampling.SamplerConfig;
import io.razorstream.engine.tokenizer.Vocabulary;

/**
 * Which window heads the compensation token helps, measured per head (docs/FIDELITY.md, "Why the compensation token
 * hurt"). RazorAttention's compensation token stands for the evicted tokens with their mean key and mean value. For a
 * query, its weight n exp(q.mean k) never exceeds what the evicted tokens really get: q.mean k is their mean logit, and
 * exp of a mean is at most the mean of exps. But the attention-weighted average of their values, which the model would
 * have read, becomes their plain mean. Without it, the head renormalises over its sinks and window. On text whose
 * recent tokens resemble the evicted ones, that is the better guess.
 *
 * <p>So each window head is tried both ways on the model's own text: the text is sampled from it (temperature 1, a
 * fixed seed) and run once with the full cache. Every query of the second half is then replayed against {@code sinks +
 * window}. Attention with the compensation token (from the same probabilities: its weight is n times the evicted
 * tokens' geometric mean) and without it are compared with the exact output. A head gets the token only where it lowers
 * that error by more than {@code margin}.
 */
public final class CompensationCalibration {
    /**
     * Calibration text length, the window replayed (small, so that most of the text is evicted), the sinks, the
     * relative error reduction a head must show, and the sampling seed.
     */
    public record Options(int tokens, int window, int sinks, double margin, long seed) {
        public static final Options DEFAULT = new Options(1024, 64, 4, 0.05, 1000);

        /** The default options with {@code tokens} of calibration text. */
        public static Options tokens(int tokens) {
            return new Options(tokens, DEFAULT.window, DEFAULT.sinks, DEFAULT.margin, DEFAULT.seed);
        }

        public Options {
            if (tokens < 16 || window < 1 || sinks < 0 || margin < 0 || margin >= 1) {
                throw new IllegalArgumentException(
                        "calibration needs >= 16 tokens, a window >= 1, sinks >= 0 and a margin in [0, 1)");
            }
        }
    }

    /** The chosen heads, each window head's relative output error without and with the token, and the options used. */
    public record Result(
            boolean[][] heads, double[][] errorWithout, double[][] errorWith, int tokens, int window, double margin) {}

    private CompensationCalibration() {}

    /**
     * Calibrates the window heads (those not in {@code retrieval}, nor in the model's own sliding layers) of
     * {@code loaded}.
     */
    public static Result calibrate(LoadedModel loaded, boolean[][] retrieval, Options options, Parallel parallel) {
        ModelConfig c = loaded.model().config();
        int[] text = sample(loaded, Math.min(options.tokens(), c.contextLength() - 1), options.seed(), parallel);
        int layers = c.blockCount(), kvHeads = c.kvHeadCount(), headSize = c.headSize(), group = c.groupSize();
        double[][][] sums = new double[layers][kvHeads][3]; // error without, error with, |exact|^2
        KvCache cache = loaded.model().newCache(text.length, KvPrecision.F32);
        int from = text.length / 2, sinks = options.sinks(), window = options.window();
        cache.observe((layer, head, position, p, length, values) -> {
            int kv = head / group,
                    evictedEnd =
                            position + 1 - window; // the window holds the query's own token and window - 1 before it
            if (position < from || evictedEnd <= sinks || retrieval[layer][kv]) return;
            double[] e = replay(p, values, headSize, sinks, evictedEnd, position);
            synchronized (sums) {
                for (int i = 0; i < 3; i++) sums[layer][kv][i] += e[i];
            }
        });
        new Decoder(loaded.model(), null, parallel, Decoder.PREFILL_BATCH).prefill(cache, text, 0, text.length, null);
        boolean[][] heads = new boolean[layers][kvHeads];
        double[][] without = new double[layers][kvHeads], with = new double[layers][kvHeads];
        boolean[] local = c.slidingWindow().local();
        for (int l = 0; l < layers; l++) {
            for (int k = 0; k < kvHeads; k++) {
                double norm = sums[l][k][2];
                if (norm == 0) continue; // a retrieval head, or nothing evicted
                without[l][k] = sums[l][k][0] / norm;
                with[l][k] = sums[l][k][1] / norm;
                heads[l][k] = !(l < local.length && local[l]) && with[l][k] < (1 - options.margin()) * without[l][k];
            }
        }
        return new Result(heads, without, with, text.length, window, options.margin());
    }

    /**
     * For one query's exact probabilities {@code p} over positions [0, position]: squared errors of the window head's
     * output without and with the compensation token, against the exact output, and the exact output's squared norm.
     * Positions [sinks, evictedEnd) are the evicted ones.
     */
    static double[] replay(float[] p, float[] values, int headSize, int sinks, int evictedEnd, int position) {
        double[] exact = new double[headSize], kept = new double[headSize], mean = new double[headSize];
        double keptWeight = 0, logSum = 0;
        int n = evictedEnd - sinks;
        for (int j = 0; j <= position; j++) {
            boolean evicted = j >= sinks && j < evictedEnd;
            for (int d = 0; d < headSize; d++) exact[d] += p[j] * values[j * headSize + d];
            if (evicted) {
                logSum += Math.log(Math.max(p[j], Float.MIN_NORMAL));
                for (int d = 0; d < headSize; d++) mean[d] += values[j * headSize + d] / n;
            } else {
                keptWeight += p[j];
                for (int d = 0; d < headSize; d++) kept[d] += p[j] * values[j * headSize + d];
            }
        }
        double token = n * Math.exp(logSum / n); // exp(mean logit + ln n), in the units of p
        double[] out = new double[3];
        for (int d = 0; d < headSize; d++) {
            double without = kept[d] / keptWeight, with = (kept[d] + token * mean[d]) / (keptWeight + token);
            out[0] += (without - exact[d]) * (without - exact[d]);
            out[1] += (with - exact[d]) * (with - exact[d]);
            out[2] += exact[d] * exact[d];
        }
        return out;
    }

    /** {@code count} tokens the model samples from BOS (temperature 1, nothing cut), end of generation ignored. */
    static int[] sample(LoadedModel loaded, int count, long seed, Parallel parallel) {
        Vocabulary vocab = loaded.tokenizer().vocabulary();
        int[] ordinary = vocab.ordinaryTokens();
        int start = vocab.bos() >= 0 ? vocab.bos() : ordinary.length > 0 ? ordinary[0] : 0;
        Decoder decoder = loaded.decoder(parallel);
        KvCache cache = loaded.model().newCache(count + 1, KvPrecision.F16);
        float[] logits = decoder.prefill(cache, new int[] {start});
        int[] generated = decoder.generate(
                        cache,
                        cache.maxTokens(),
                        logits,
                        Decoder.Request.of(new SamplerConfig(1f, 0, 1f, 0f, 1f, 0, seed), count - 1)
                                .ignoringEndOfGeneration(),
                        null)
                .tokens();
        int[] text = new int[1 + generated.length];
        text[0] = start;
        System.arraycopy(generated, 0, text, 1, generated.length);
        return text;
    }
}
