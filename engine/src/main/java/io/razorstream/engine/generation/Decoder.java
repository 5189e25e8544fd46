package io.razorstream.engine.generation;

import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.grammar.Grammar;
import io.razorstream.engine.grammar.GrammarConstraint;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.Transformer;
import io.razorstream.engine.sampling.Sampler;
import io.razorstream.engine.sampling.SamplerConfig;
import io.razorstream.engine.tokenizer.Tokenizer;
import io.razorstream.engine.tokenizer.Utf8StreamDecoder;

import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * The engine's one generation loop: prefill in batches, then sample, stream and decode token by token until an
 * end-of-generation token, a stop string, the token budget or the cache's limit. {@code generate}, the terminal chat,
 * the service's turns, eval, the head profiler and bench all run through it.
 *
 * <p>The rules, the same for every caller:
 *
 * <ul>
 *   <li>The repetition penalty sees the request's history (the tokens the turn just added) and the reply.
 *   <li>An end-of-generation token ends the reply and is neither shown nor fed to the cache (the chat template's
 *       closing markup stands in for it).
 *   <li>When the reply ends at a stop string, the budget or the limit, its last token is not fed either: it comes back
 *       as {@link Reply#pendingToken}, for the next turn to feed first (a one-shot run drops it). No decode is spent on
 *       a token nobody reads the logits of.
 *   <li>Listeners get complete UTF-8 text only, never an empty piece and never any part of a stop string.
 * </ul>
 */
public final class Decoder {
    /**
     * Tokens per prefill pass: a multiple of the GEMM tile (3), big enough to reuse each dequantised row across many
     * tokens.
     */
    public static final int PREFILL_BATCH = 96;

    /**
     * Receives reply text as it is complete: non-empty, with the token that completed it (-1 for the rest held to the
     * end).
     */
    @FunctionalInterface
    public interface TokenListener {
        void onToken(int token, String text);
    }

    /**
     * What to generate: sampling, at most {@code maxTokens} tokens, {@code stop} strings, the {@code history} the
     * repetition penalty starts from, (bench) whether to run past end-of-generation tokens, the grammar the reply must
     * stay inside (null: none), and whether to report each token's log probability with how many top tokens
     * ({@code topLogprobs}: -1 none, else 0 to {@link TokenLogprob#MAX_TOP}).
     */
    public record Request(
            SamplerConfig sampler,
            int maxTokens,
            List<String> stop,
            int[] history,
            boolean ignoreEndOfGeneration,
            Grammar grammar,
            int topLogprobs) {
        public Request {
            if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
            if (topLogprobs < -1 || topLogprobs > TokenLogprob.MAX_TOP) {
                throw new IllegalArgumentException(
                        "top_logprobs must be in [0, " + TokenLogprob.MAX_TOP + "], got " + topLogprobs);
            }
            stop = List.copyOf(stop);
            history = history.clone();
        }

        public static Request of(SamplerConfig sampler, int maxTokens) {
            return new Request(sampler, maxTokens, List.of(), new int[0], false, null, -1);
        }

        public Request withStop(List<String> strings) {
            return new Request(sampler, maxTokens, strings, history, ignoreEndOfGeneration, grammar, topLogprobs);
        }

        public Request withHistory(int[] tokens) {
            return new Request(sampler, maxTokens, stop, tokens, ignoreEndOfGeneration, grammar, topLogprobs);
        }

        public Request ignoringEndOfGeneration() {
            return new Request(sampler, maxTokens, stop, history, true, grammar, topLogprobs);
        }

        /** Each reply token's log probability, with the {@code top} (0-20) most likely tokens at its step. */
        public Request withLogprobs(int top) {
            return new Request(sampler, maxTokens, stop, history, ignoreEndOfGeneration, grammar, top);
        }

        /**
         * The reply kept inside {@code g} (every token; end-of-generation only where the grammar is complete). Refused
         * when even the shortest reply of the grammar does not fit the budget.
         */
        public Request withGrammar(Grammar g) {
            if (g != null && g.minLength() > maxTokens) {
                throw new IllegalArgumentException("max_tokens " + maxTokens + " is too small for the required format:"
                        + " its shortest reply takes " + g.minLength() + " tokens at worst");
            }
            return new Request(sampler, maxTokens, stop, history, ignoreEndOfGeneration, g, topLogprobs);
        }
    }

    /**
     * A generated reply: its tokens (the pending one included), text, why it ended, the token not fed yet (-1: none).
     */
    public record Reply(
            int[] tokens, String text, FinishReason finish, int pendingToken, long nanos, List<TokenLogprob> logprobs) {
        /** A reply without log probabilities. */
        public Reply(int[] tokens, String text, FinishReason finish, int pendingToken, long nanos) {
            this(tokens, text, finish, pendingToken, nanos, List.of());
        }

        public boolean hasPending() {
            return pendingToken >= 0;
        }

        /** Decode speed: tokens after the first (the first comes from the prefill's logits). */
        public double tokensPerSecond() {
            return decodeRate(tokens.length, nanos);
        }
    }

    /**
     * Decode speed of {@code tokens} generated in {@code nanos}: the first comes from the prefill's logits, so it is
     * not counted.
     */
    public static double decodeRate(int tokens, long nanos) {
        return Math.max(0, tokens - 1) / (nanos / 1e9);
    }

    private final Transformer model;
    private final Tokenizer tokenizer;
    private final Parallel parallel;
    private final int prefillBatch;
    /** Decode's logits row per calling thread, kept across replies: a reply allocates no vocabulary-sized array. */
    private final ThreadLocal<float[]> stepLogits;

    /** {@code tokenizer} may be null for a decoder that only prefills (the head profiler's probes). */
    public Decoder(Transformer model, Tokenizer tokenizer, Parallel parallel, int prefillBatch) {
        if (prefillBatch < 1) throw new IllegalArgumentException("prefill batch must be >= 1, got " + prefillBatch);
        this.model = model;
        this.tokenizer = tokenizer;
        this.parallel = parallel;
        this.prefillBatch = prefillBatch;
        this.stepLogits = ThreadLocal.withInitial(() -> new float[model.config().vocabularySize()]);
    }

    public Transformer model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** Runs {@code tokens} into the cache in batches and returns the logits after the last one. */
    public float[] prefill(KvCache cache, int[] tokens) {
        return prefill(cache, tokens, 0, tokens.length, null);
    }

    /**
     * As {@link #prefill(KvCache, int[])} for tokens[from, from + count), telling {@code progress} how many are done
     * after each batch.
     */
    public float[] prefill(KvCache cache, int[] tokens, int from, int count, IntConsumer progress) {
        if (count < 1) throw new IllegalArgumentException("nothing to prefill");
        float[] logits = null;
        for (int at = from; at < from + count; at += prefillBatch) {
            int n = Math.min(prefillBatch, from + count - at);
            logits = model.forward(cache, tokens, at, n, parallel);
            if (progress != null) progress.accept(at + n - from);
        }
        return logits;
    }

    /**
     * Teacher forcing: runs tokens[from, from + count) into the cache in batches and returns the logits after each of
     * them (row i: after token from + i), the same numbers decode would give token by token.
     */
    public float[][] prefillAll(KvCache cache, int[] tokens, int from, int count) {
        if (count < 1) throw new IllegalArgumentException("nothing to prefill");
        float[][] out = new float[count][];
        for (int at = from; at < from + count; at += prefillBatch) {
            int n = Math.min(prefillBatch, from + count - at);
            float[][] rows = model.forward(cache, tokens, at, n, true, parallel);
            System.arraycopy(rows, 0, out, at - from, n);
        }
        return out;
    }

    /**
     * Generates a reply from {@code logits} (those after the cache's last token), feeding each token but the last into
     * {@code cache}, which may grow to {@code tokenLimit} tokens (at most its own limit).
     */
    public Reply generate(KvCache cache, int tokenLimit, float[] logits, Request request, TokenListener listener) {
        if (tokenizer == null) throw new IllegalStateException("this decoder only prefills: it has no tokenizer");
        int limit = Math.min(tokenLimit, cache.maxTokens());
        long t0 = System.nanoTime();
        Sampler sampler = new Sampler(request.sampler());
        for (int t : request.history()) sampler.accept(t);
        StopStrings stops = new StopStrings(request.stop());
        Utf8StreamDecoder utf8 = new Utf8StreamDecoder();
        StringBuilder text = new StringBuilder();
        int[] tokens = new int[Math.min(request.maxTokens(), 1024)];
        int n = 0, streamed = 0, pending = -1;
        FinishReason finish = FinishReason.LENGTH;
        float[] step = stepLogits.get(); // decode's logits: one array per thread for every reply
        GrammarConstraint grammar =
                request.grammar() == null ? null : new GrammarConstraint(request.grammar(), tokenizer);
        List<TokenLogprob> logprobs = request.topLogprobs() >= 0 ? new java.util.ArrayList<>() : List.of();
        while (n < request.maxTokens()) {
            int token = sampler.sample(logits);
            if (grammar != null) {
                // the sampled token usually fits; only when it does not is the vocabulary masked and sampled again
                int budget = Math.min(request.maxTokens() - n, limit - cache.position());
                if (!grammar.allows(token, budget)) token = sampler.sample(grammar.mask(logits, budget));
                grammar.accept(token);
            }
            if (!request.ignoreEndOfGeneration() && tokenizer.vocabulary().isEndOfGeneration(token)) {
                finish = FinishReason.END_OF_GENERATION;
                break;
            }
            if (request.topLogprobs() >= 0) logprobs.add(TokenLogprob.of(logits, token, request.topLogprobs()));
            if (n == tokens.length) tokens = Arrays.copyOf(tokens, 2 * n);
            tokens[n++] = token;
            sampler.accept(token);
            int before = text.length();
            text.append(utf8.feed(tokenizer.piece(token)));
            int stopAt = stops.find(text, before);
            if (stopAt >= 0) {
                text.setLength(stopAt);
                finish = FinishReason.STOP;
                pending = token;
                break;
            }
            streamed = stream(text, streamed, stops.safeLength(text), token, listener);
            if (n == request.maxTokens()) {
                pending = token;
                break;
            }
            if (cache.position() + 1 >= limit) {
                finish = FinishReason.CONTEXT_FULL;
                pending = token;
                break;
            }
            model.decode(cache, token, step, parallel);
            logits = step;
        }
        if (finish != FinishReason.STOP) text.append(utf8.flush()); // after a stop string, what is held belongs to it
        stream(text, streamed, text.length(), -1, listener);
        return new Reply(Arrays.copyOf(tokens, n), text.toString(), finish, pending, System.nanoTime() - t0, logprobs);
    }

    /** Hands text[from, to) to the listener when non-empty; returns the new streamed length. */
    private static int stream(StringBuilder text, int from, int to, int token, TokenListener listener) {
        if (to <= from) return from;
        if (listener != null) listener.onToken(token, text.substring(from, to));
        return to;
    }
}
