package io.razorstream.engine;

import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.generation.FinishReason;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.Transformer;
import io.razorstream.engine.sampling.SamplerConfig;

/**
 * Prompt in, continuation out, in a cache of its own: one {@link Decoder} run (the reply's last token is dropped, not
 * fed).
 */
public final class Generator {
    public record Result(
            int[] promptTokens,
            int[] generatedTokens,
            String text,
            long prefillNanos,
            long decodeNanos,
            FinishReason finish) {
        public double prefillTokensPerSecond() {
            return promptTokens.length / (prefillNanos / 1e9);
        }

        public double decodeTokensPerSecond() {
            return Decoder.decodeRate(generatedTokens.length, decodeNanos);
        }

        public boolean stoppedAtEndOfGeneration() {
            return finish == FinishReason.END_OF_GENERATION;
        }
    }

    private final LoadedModel loaded;
    private final Decoder decoder;
    private final KvPrecision precision;

    public Generator(LoadedModel loaded, Parallel parallel, KvPrecision precision, int prefillBatch) {
        this.loaded = loaded;
        this.decoder = new Decoder(loaded.model(), loaded.tokenizer(), parallel, prefillBatch);
        this.precision = precision;
    }

    public Generator(LoadedModel loaded, Parallel parallel) {
        this(loaded, parallel, KvPrecision.F16, Decoder.PREFILL_BATCH);
    }

    public Result generate(String prompt, int maxTokens, SamplerConfig samplerConfig, Decoder.TokenListener listener) {
        int[] promptTokens = loaded.tokenizer().encode(prompt, true, true);
        return generate(promptTokens, maxTokens, samplerConfig, listener);
    }

    public Result generate(
            int[] promptTokens, int maxTokens, SamplerConfig samplerConfig, Decoder.TokenListener listener) {
        return generate(promptTokens, maxTokens, samplerConfig, false, listener);
    }

    /** As above; with {@code ignoreEndOfGeneration}, past end-of-generation tokens up to {@code maxTokens}. */
    public Result generate(
            int[] promptTokens,
            int maxTokens,
            SamplerConfig samplerConfig,
            boolean ignoreEndOfGeneration,
            Decoder.TokenListener listener) {
        if (promptTokens.length == 0)
            throw new IllegalArgumentException(
                    "the prompt is empty and the model adds no BOS token: nothing to continue from");
        Transformer model = loaded.model();
        int context = model.config().contextLength();
        if (promptTokens.length >= context) {
            throw new IllegalArgumentException(
                    "the prompt has " + promptTokens.length + " tokens; the model's context is " + context);
        }
        KvCache cache =
                model.newCache(promptTokens.length + Math.min(maxTokens, context - promptTokens.length), precision);
        long t0 = System.nanoTime();
        float[] logits = decoder.prefill(cache, promptTokens);
        long t1 = System.nanoTime();
        Decoder.Request request = Decoder.Request.of(samplerConfig, maxTokens).withHistory(promptTokens);
        if (ignoreEndOfGeneration) request = request.ignoringEndOfGeneration();
        Decoder.Reply reply = decoder.generate(cache, cache.maxTokens(), logits, request, listener);
        return new Result(promptTokens, reply.tokens(), reply.text(), t1 - t0, reply.nanos(), reply.finish());
    }
}
