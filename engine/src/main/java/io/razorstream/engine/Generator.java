package io.razorstream.engine;

import io.razorstream.engine.llama.KvCache;
import io.razorstream.engine.llama.KvPrecision;
import io.razorstream.engine.llama.LlamaModel;
import io.razorstream.engine.sampling.Sampler;
import io.razorstream.engine.sampling.SamplerConfig;
import io.razorstream.engine.tensor.Parallel;
import io.razorstream.engine.tokenizer.Tokenizer;
import io.razorstream.engine.tokenizer.Utf8StreamDecoder;

import java.util.Arrays;

/** Prompt in, continuation out: prefill in batches, then decode one token at a time, streaming text. */
public final class Generator {
    /** Tokens per prefill pass: a multiple of the GEMM tile (3), big enough to reuse each dequantised row across many tokens. */
    public static final int DEFAULT_PREFILL_BATCH = 96;

    /** Receives each generated token and the text it completes (valid UTF-8, possibly empty). */
    @FunctionalInterface
    public interface TokenListener {
        void onToken(int token, String text);
    }

    public record Result(int[] promptTokens, int[] generatedTokens, String text, long prefillNanos, long decodeNanos,
                         boolean stoppedAtEndOfGeneration) {
        public double prefillTokensPerSecond() {
            return promptTokens.length / (prefillNanos / 1e9);
        }

        /** Decode speed: tokens after the first (the first comes from the prefill's logits). */
        public double decodeTokensPerSecond() {
            return Math.max(0, generatedTokens.length - 1) / (decodeNanos / 1e9);
        }
    }

    private final LoadedModel loaded;
    private final Parallel parallel;
    private final KvPrecision precision;
    private final int prefillBatch;

    public Generator(LoadedModel loaded, Parallel parallel, KvPrecision precision, int prefillBatch) {
        if (prefillBatch < 1) throw new IllegalArgumentException("prefill batch must be >= 1");
        this.loaded = loaded;
        this.parallel = parallel;
        this.precision = precision;
        this.prefillBatch = prefillBatch;
    }

    public Generator(LoadedModel loaded, Parallel parallel) {
        this(loaded, parallel, KvPrecision.F16, DEFAULT_PREFILL_BATCH);
    }

    public Result generate(String prompt, int maxTokens, SamplerConfig samplerConfig, TokenListener listener) {
        int[] promptTokens = loaded.tokenizer().encode(prompt, true, true);
        return generate(promptTokens, maxTokens, samplerConfig, listener);
    }

    public Result generate(int[] promptTokens, int maxTokens, SamplerConfig samplerConfig, TokenListener listener) {
        if (promptTokens.length == 0) throw new IllegalArgumentException("the prompt is empty and the model adds no BOS token: nothing to continue from");
        LlamaModel model = loaded.model();
        int context = model.config().contextLength();
        if (promptTokens.length >= context) {
            throw new IllegalArgumentException("the prompt has " + promptTokens.length + " tokens; the model's context is " + context);
        }
        int budget = Math.min(maxTokens, context - promptTokens.length);
        KvCache cache = model.newCache(promptTokens.length + budget, precision);
        Sampler sampler = new Sampler(samplerConfig);
        for (int t : promptTokens) sampler.accept(t);

        long t0 = System.nanoTime();
        float[] logits = prefill(model, cache, promptTokens);
        long t1 = System.nanoTime();

        Tokenizer tokenizer = loaded.tokenizer();
        Utf8StreamDecoder decoder = new Utf8StreamDecoder();
        StringBuilder text = new StringBuilder();
        int[] generated = new int[budget];
        int n = 0;
        boolean stopped = false;
        float[] step = null; // decode's logits, one array for the whole loop
        while (n < budget) {
            int token = sampler.sample(logits);
            if (tokenizer.vocabulary().isEndOfGeneration(token)) {
                stopped = true;
                break;
            }
            generated[n++] = token;
            sampler.accept(token);
            String piece = decoder.feed(tokenizer.piece(token));
            text.append(piece);
            if (listener != null) listener.onToken(token, piece);
            if (n < budget) {
                if (step == null) step = new float[logits.length];
                model.decode(cache, token, step, parallel);
                logits = step;
            }
        }
        String rest = decoder.flush();
        text.append(rest);
        if (listener != null && !rest.isEmpty()) listener.onToken(-1, rest);
        long t2 = System.nanoTime();
        return new Result(promptTokens, Arrays.copyOf(generated, n), text.toString(), t1 - t0, t2 - t1, stopped);
    }

    /** Runs the prompt through the model in batches and returns the logits after its last token. */
    public float[] prefill(LlamaModel model, KvCache cache, int[] tokens) {
        float[] logits = null;
        for (int from = 0; from < tokens.length; from += prefillBatch) {
            int count = Math.min(prefillBatch, tokens.length - from);
            logits = model.forward(cache, tokens, from, count, parallel);
        }
        return logits;
    }
}
