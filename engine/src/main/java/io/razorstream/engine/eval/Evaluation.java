package io.razorstream.engine.eval;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.Ops;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.Transformer;
import io.razorstream.engine.sampling.SamplerConfig;

import java.util.Random;

/**
 * The measurements of ../shared/docs/RAZOR.md section 7 for one model and one cache policy: passkey retrieval (the
 * cache is compressed before the question arrives, since Razor compresses as tokens arrive) and KL(full || policy) of
 * next-token distributions under teacher forcing.
 */
public final class Evaluation {
    private static final String FILLER = "the quick brown fox jumps over a lazy dog and runs far away ";

    private Evaluation() {}

    /** The question that follows the context; the cache is compressed before it arrives. */
    public static final String QUESTION = " Remember the code #";

    /** About {@code length} characters of filler with "#KEY" planted at {@code depth} in [0, 1]. */
    public static String passkeyContext(String key, int length, double depth, long seed) {
        Random r = new Random(seed);
        StringBuilder filler = new StringBuilder();
        while (filler.length() < length) filler.append(FILLER, 0, 1 + r.nextInt(FILLER.length() - 1));
        int at = (int) Math.round(depth * (filler.length() - 1));
        return filler.substring(0, at) + " The code is #" + key + ". " + filler.substring(at);
    }

    /** The context and the question, as one prompt. */
    public static String passkeyPrompt(String key, int length, double depth, long seed) {
        return passkeyContext(key, length, depth, seed) + QUESTION;
    }

    /** A 4-character key from [A-Z0-9] with no repeated bigram (a bigram matcher copies those ambiguously). */
    public static String randomKey(long seed) {
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        Random r = new Random(seed);
        while (true) {
            StringBuilder k = new StringBuilder();
            for (int i = 0; i < 4; i++) k.append(alphabet.charAt(r.nextInt(alphabet.length())));
            String s = k.toString();
            if (s.charAt(0) != s.charAt(2) || s.charAt(1) != s.charAt(3)) return s;
        }
    }

    public record Passkey(boolean correct, String answer, int promptTokens, long kvBytes, long fullKvBytes) {}

    /**
     * Prefills the context under {@code policy}, lets one-shot policies compress (SnapKV), prefills the question, then
     * greedily decodes as many bytes as the key has.
     */
    public static Passkey passkey(LoadedModel model, KvPolicy policy, String key, String context, Parallel parallel) {
        Transformer m = model.model();
        int[] tokens = model.tokenizer().encode(context + QUESTION, true, true);
        int split = Math.min(tokens.length - 1, model.tokenizer().encode(context, true, true).length);
        KvCache cache = m.newCache(tokens.length + key.length() + 1, KvPrecision.F16, policy);
        Decoder decoder = model.decoder(parallel);
        decoder.prefill(cache, tokens, 0, split, null);
        cache.compressNow();
        float[] logits = decoder.prefill(cache, tokens, split, tokens.length - split, null);
        // Greedy, at most one token per key character (each token is at least one).
        String answer = decoder.generate(
                        cache, cache.maxTokens(), logits, Decoder.Request.of(SamplerConfig.GREEDY, key.length()), null)
                .text();
        return new Passkey(answer.startsWith(key), answer, tokens.length, cache.bytesInUse(), cache.fullBytes());
    }

    public record Divergence(double kl, double top1Agreement, long kvBytes, long fullKvBytes) {}

    /**
     * Teacher-forces {@code tokens} through a full cache and through {@code policy}, and averages KL(full || policy)
     * and top-1 agreement over positions {@code from} and later (which one-shot policies see after compressing the
     * tokens before them).
     */
    public static Divergence divergence(Transformer m, int[] tokens, int from, KvPolicy policy, Parallel parallel) {
        if (from < 1 || from >= tokens.length)
            throw new IllegalArgumentException("compare from a position in [1, " + tokens.length + "), got " + from);
        KvCache other = m.newCache(tokens.length, KvPrecision.F16, policy);
        float[][]
                ps =
                        teacherForced(
                                m,
                                m.newCache(tokens.length, KvPrecision.F16),
                                tokens,
                                from,
                                tokens.length - from,
                                parallel),
                qs = teacherForced(m, other, tokens, from, tokens.length - from, parallel);
        double kl = 0;
        int agree = 0, n = 0;
        for (int i = 0; i < ps.length; i++) {
            kl += kl(ps[i], qs[i]);
            if (Ops.argmax(ps[i]) == Ops.argmax(qs[i])) agree++;
            n++;
        }
        return new Divergence(
                n == 0 ? 0 : kl / n, n == 0 ? 1 : agree / (double) n, other.bytesInUse(), other.fullBytes());
    }

    /**
     * Teacher forcing on an empty {@code cache}: tokens[0, from) prefilled as the prompt (one-shot policies such as
     * SnapKV compress there), then the logits after each of tokens[from, from + count), row i after token from + i.
     */
    public static float[][] teacherForced(
            Transformer m, KvCache cache, int[] tokens, int from, int count, Parallel parallel) {
        Decoder decoder = new Decoder(m, null, parallel, Decoder.PREFILL_BATCH);
        decoder.prefill(cache, tokens, 0, from, null);
        cache.compressNow();
        return decoder.prefillAll(cache, tokens, from, count);
    }

    /** KL(softmax(p) || softmax(q)) of two logit vectors, in nats. */
    public static double kl(float[] p, float[] q) {
        double[] a = softmax(p), b = softmax(q);
        double kl = 0;
        for (int j = 0; j < a.length; j++)
            if (a[j] > 0) kl += a[j] * (Math.log(a[j]) - Math.log(Math.max(b[j], 1e-300)));
        return kl;
    }

    /** ln softmax(logits)[token], in double. */
    public static double logProbability(float[] logits, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) max = Math.max(max, v);
        double sum = 0;
        for (float v : logits) sum += Math.exp(v - max);
        return logits[token] - max - Math.log(sum);
    }

    static double[] softmax(float[] x) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : x) max = Math.max(max, v);
        double[] e = new double[x.length];
        double s = 0;
        for (int i = 0; i < x.length; i++) s += e[i] = Math.exp(x[i] - max);
        for (int i = 0; i < x.length; i++) e[i] /= s;
        return e;
    }
}
