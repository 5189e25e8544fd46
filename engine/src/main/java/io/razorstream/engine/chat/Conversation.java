package io.razorstream.engine.chat;

import io.razorstream.engine.Generator;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.llama.KvCache;
import io.razorstream.engine.llama.KvPrecision;
import io.razorstream.engine.llama.LlamaModel;
import io.razorstream.engine.sampling.Sampler;
import io.razorstream.engine.sampling.SamplerConfig;
import io.razorstream.engine.tensor.Parallel;
import io.razorstream.engine.tokenizer.Utf8StreamDecoder;

/**
 * A chat with a model whose history lives in one KV cache: each turn renders only what it adds (the
 * closing of the previous reply, the new message, the opening of the reply) with the model's template,
 * prefills it, and decodes the reply until an end-of-turn token. Nothing already in the cache is
 * processed again.
 */
public final class Conversation {
    private final LoadedModel model;
    private final ChatTemplate template;
    private final Parallel parallel;
    private KvCache cache;
    private String lastRole;
    private boolean afterGeneratedReply;

    public Conversation(LoadedModel model, ChatTemplate template, Parallel parallel) {
        this.model = model;
        this.template = template;
        this.parallel = parallel;
        reset();
    }

    /** The template the model's GGUF names ({@code tokenizer.chat_template}), PLAIN when none is recognised. */
    public static ChatTemplate templateOf(LoadedModel model) {
        var t = model.gguf().get("tokenizer.chat_template");
        return ChatTemplate.detect(t == null ? null : t.asString());
    }

    public ChatTemplate template() {
        return template;
    }

    /** Forgets the conversation (a fresh cache). */
    public void reset() {
        cache = model.model().newCache(model.model().config().contextLength(), KvPrecision.F16);
        lastRole = null;
        afterGeneratedReply = false;
    }

    public int tokens() {
        return cache.size();
    }

    /** Adds a system or user message without a reply. */
    public void add(Message message) {
        prefill(template.appendSegments(lastRole, afterGeneratedReply, message, false));
        lastRole = message.role();
        afterGeneratedReply = false;
    }

    /** Adds a user message and streams the reply to {@code listener}; returns the reply's text. */
    public String reply(String userText, SamplerConfig sampling, int maxTokens, Generator.TokenListener listener) {
        float[] logits = prefill(template.appendSegments(lastRole, afterGeneratedReply, Message.user(userText), true));
        LlamaModel m = model.model();
        Sampler sampler = new Sampler(sampling);
        Utf8StreamDecoder decoder = new Utf8StreamDecoder();
        StringBuilder text = new StringBuilder();
        float[] step = null; // decode's logits, one array for the whole reply
        for (int n = 0; n < maxTokens && cache.size() < m.config().contextLength(); n++) {
            int token = sampler.sample(logits);
            if (model.tokenizer().vocabulary().isEndOfGeneration(token)) break;
            sampler.accept(token);
            String piece = decoder.feed(model.tokenizer().piece(token));
            text.append(piece);
            if (listener != null && !piece.isEmpty()) listener.onToken(token, piece);
            if (step == null) step = new float[logits.length];
            m.decode(cache, token, step, parallel);
            logits = step;
        }
        String rest = decoder.flush();
        text.append(rest);
        if (listener != null && !rest.isEmpty()) listener.onToken(-1, rest);
        lastRole = "assistant";
        afterGeneratedReply = true;
        return text.toString();
    }

    private float[] prefill(java.util.List<io.razorstream.engine.tokenizer.Tokenizer.Segment> segments) {
        boolean first = cache.size() == 0;
        int[] tokens = model.tokenizer().encode(segments, first);
        if (tokens.length == 0) throw new IllegalArgumentException("nothing to add");
        if (cache.size() + tokens.length >= model.model().config().contextLength()) {
            throw new IllegalArgumentException("the conversation would exceed the model's context of " + model.model().config().contextLength()
                    + " tokens; /reset to start over");
        }
        float[] logits = null;
        for (int from = 0; from < tokens.length; from += Generator.DEFAULT_PREFILL_BATCH) {
            logits = model.model().forward(cache, tokens, from, Math.min(Generator.DEFAULT_PREFILL_BATCH, tokens.length - from), parallel);
        }
        return logits;
    }
}
