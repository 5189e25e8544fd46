package io.razorstream.app.turn;

import io.razorstream.app.model.ServedModel;
import io.razorstream.engine.Generator;
import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.Message;
import io.razorstream.engine.llama.LlamaModel;
import io.razorstream.engine.sampling.Sampler;
import io.razorstream.engine.sampling.SamplerConfig;
import io.razorstream.engine.tensor.Parallel;
import io.razorstream.engine.tokenizer.Tokenizer;
import io.razorstream.engine.tokenizer.Utf8StreamDecoder;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.store.Session;

/**
 * Applies one turn to a session's cache: the token left pending by the previous reply and the turn's text
 * are prefilled on top of the cache, then (if asked) a reply is decoded token by token, each piece of
 * text handed to {@code sink} as it is complete UTF-8. Turns are rendered with the model's chat template
 * (the synthetic model has none: its turns are appended as they are).
 */
public final class TurnRunner {
    /** Receives reply text as it is generated. */
    @FunctionalInterface
    public interface TextSink {
        void delta(String text);
    }

    private final ServedModel model;
    private final Parallel parallel;
    private final int maxSessionTokens;

    /** {@code maxSessionTokens}: the longest a session may grow; 0 or more than the model's context: the context. */
    public TurnRunner(ServedModel model, Parallel parallel, int maxSessionTokens) {
        this.model = model;
        this.parallel = parallel;
        int context = model.loaded().model().config().contextLength();
        this.maxSessionTokens = maxSessionTokens <= 0 ? context : Math.min(maxSessionTokens, context);
    }

    /**
     * The turn's tokens: the pending token, then the text rendered with the model's chat template (the
     * closing of a generated reply, the message, the opening of the reply when one is asked for), or as it
     * is for PLAIN. The user's text never turns into control tokens.
     */
    private int[] encode(Session session, String role, String text, boolean reply) {
        Tokenizer tokenizer = model.loaded().tokenizer();
        boolean first = session.tokens() == 0 && session.pendingTokens().length == 0;
        int[] textTokens;
        if (model.template() == ChatTemplate.PLAIN) {
            textTokens = text.isEmpty() ? new int[0] : tokenizer.encode(text, false, false);
        } else {
            String previous = session.lastRole().isEmpty() ? null : session.lastRole();
            textTokens = tokenizer.encode(model.template().appendSegments(previous, session.afterReply(), new Message(role, text), reply), false);
        }
        int[] pending = session.pendingTokens();
        boolean bos = first && tokenizer.vocabulary().addBos();
        int[] tokens = new int[(bos ? 1 : 0) + pending.length + textTokens.length];
        int at = 0;
        if (bos) tokens[at++] = tokenizer.vocabulary().bos();
        System.arraycopy(pending, 0, tokens, at, pending.length);
        System.arraycopy(textTokens, 0, tokens, at + pending.length, textTokens.length);
        return tokens;
    }

    /**
     * Runs the turn. Throws IllegalArgumentException, with nothing changed, when the turn cannot fit the
     * model's context; any other exception leaves the session's cache half-updated (drop it).
     */
    public TurnResult run(Session session, String role, String text, boolean reply, GenerationParams params, int defaultTokens, TextSink sink) {
        LlamaModel m = model.loaded().model();
        int context = maxSessionTokens;
        int[] tokens = encode(session, role, text, reply);
        if (session.tokens() + tokens.length > context) {
            throw new IllegalArgumentException("the turn adds " + tokens.length + " tokens to a session of " + session.tokens()
                    + "; sessions hold at most " + context + " tokens");
        }
        if (reply && tokens.length == 0) throw new IllegalArgumentException("nothing to reply to: the turn adds no tokens");
        Sampler sampler = reply ? new Sampler(samplerConfig(params)) : null;
        long t0 = System.nanoTime();
        float[] logits = null, step = null; // step: decode's logits, one array for the whole reply
        for (int from = 0; from < tokens.length; from += Generator.DEFAULT_PREFILL_BATCH) {
            logits = m.forward(session.cache(), tokens, from, Math.min(Generator.DEFAULT_PREFILL_BATCH, tokens.length - from), parallel);
        }
        session.setPendingTokens(new int[0]);
        session.setLastMessage(role, false);
        long t1 = System.nanoTime();
        if (!reply) return new TurnResult("", tokens.length, 0, FinishReason.FINISH_REASON_NO_REPLY, t1 - t0, 0);

        Tokenizer tokenizer = model.loaded().tokenizer();
        int maxTokens = params.hasMaxTokens() ? params.getMaxTokens() : defaultTokens;
        Utf8StreamDecoder decoder = new Utf8StreamDecoder();
        StringBuilder out = new StringBuilder();
        FinishReason finish = FinishReason.FINISH_REASON_LENGTH;
        int generated = 0;
        while (generated < maxTokens) {
            int token = sampler.sample(logits);
            if (tokenizer.vocabulary().isEndOfGeneration(token)) {
                finish = FinishReason.FINISH_REASON_END_OF_GENERATION;
                break;
            }
            generated++;
            sampler.accept(token);
            String piece = decoder.feed(tokenizer.piece(token));
            out.append(piece);
            if (!piece.isEmpty()) sink.delta(piece);
            String stop = endsWithStop(out, params);
            boolean full = session.tokens() + 1 >= context;
            if (stop != null || generated == maxTokens || full) {
                // The last token is not fed yet: it opens the next turn.
                session.setPendingTokens(new int[] {token});
                if (stop != null) {
                    out.setLength(out.length() - stop.length());
                    finish = FinishReason.FINISH_REASON_STOP;
                } else if (full && generated < maxTokens) {
                    finish = FinishReason.FINISH_REASON_CONTEXT_FULL;
                }
                break;
            }
            if (step == null) step = new float[logits.length];
            m.decode(session.cache(), token, step, parallel);
            logits = step;
        }
        session.setLastMessage("assistant", true);
        String rest = decoder.flush();
        if (!rest.isEmpty() && finish != FinishReason.FINISH_REASON_STOP) {
            out.append(rest);
            sink.delta(rest);
        }
        return new TurnResult(out.toString(), tokens.length, generated, finish, t1 - t0, System.nanoTime() - t1);
    }

    private static String endsWithStop(StringBuilder text, GenerationParams params) {
        for (String s : params.getStopList()) {
            if (!s.isEmpty() && text.length() >= s.length() && text.indexOf(s, text.length() - s.length()) >= 0) return s;
        }
        return null;
    }

    /** Greedy unless a temperature is given; the engine's defaults for the rest. */
    public static SamplerConfig samplerConfig(GenerationParams p) {
        float temperature = p.hasTemperature() ? p.getTemperature() : 0f;
        return new SamplerConfig(temperature, p.hasTopK() ? p.getTopK() : 0, p.hasTopP() ? p.getTopP() : 1f, p.hasMinP() ? p.getMinP() : 0f,
                p.hasRepeatPenalty() ? p.getRepeatPenalty() : 1f, 64, p.hasSeed() ? p.getSeed() : 42L);
    }
}
