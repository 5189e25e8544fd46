package io.razorstream.engine.chat;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.chat.jinja.JinjaException;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;

import java.util.Map;
import java.util.function.Consumer;

/**
 * A chat whose history lives in one KV cache: each turn renders only what it adds (the pending token, the closing of
 * the previous reply, the new message, the opening of the reply) with the template, prefills it, and, when asked,
 * generates the reply with the {@link Decoder}. Nothing already in the cache is processed again. The terminal chat and
 * the service's turns are both this class, over their own cache and state.
 */
public final class Conversation {
    /**
     * One applied turn: the tokens it added, the reply (null when none was asked for), the prefill time, positions a
     * context shift gave back first (0: none).
     */
    public record Turn(int promptTokens, Decoder.Reply reply, long prefillNanos, int shiftedTokens) {}

    /** What a turn that would outgrow the limit does: shift the cache ({@link #shiftFor}) or be refused. */
    public enum Overflow {
        SHIFT,
        REFUSE
    }

    private final Decoder decoder;
    private final ChatFormat template;
    private final KvCache cache;
    private final ConversationState state;
    private final int tokenLimit;
    private final Overflow overflow;
    private final int undoTurns;

    /**
     * A conversation over {@code cache} and {@code state} (a stored session's), its positions at most
     * {@code tokenLimit}, rendered with the state's template, or with {@code template} when it is new; a turn that
     * would go past the limit shifts the cache or is refused, as {@code overflow} says. With {@code undoTurns} above 0
     * each turn marks the cache first ({@link KvCache#mark}), so that the last {@code undoTurns} turns can be taken
     * back.
     */
    public Conversation(
            Decoder decoder,
            ChatFormat template,
            KvCache cache,
            ConversationState state,
            int tokenLimit,
            Overflow overflow,
            int undoTurns) {
        if (tokenLimit < 1) throw new IllegalArgumentException("token limit must be >= 1, got " + tokenLimit);
        if (undoTurns < 0) throw new IllegalArgumentException("undo turns must be >= 0, got " + undoTurns);
        this.undoTurns = undoTurns;
        this.overflow = overflow;
        this.decoder = decoder;
        this.template = template;
        this.cache = cache;
        this.state = state;
        this.tokenLimit = Math.min(tokenLimit, cache.maxTokens());
    }

    /** A fresh conversation with a cache of the model's whole context (the terminal chat). */
    public static Conversation start(LoadedModel model, ChatFormat template, Parallel parallel) {
        KvCache cache = model.model().newCache(model.model().config().contextLength(), KvPrecision.F16);
        return new Conversation(
                model.decoder(parallel),
                template,
                cache,
                new ConversationState(),
                cache.maxTokens(),
                Overflow.SHIFT,
                0);
    }

    /**
     * The model's own chat template ({@code tokenizer.chat_template}, rendered by the Jinja interpreter), or, for a
     * GGUF without one or with one the interpreter cannot parse, the family its markers name (PLAIN when none):
     * {@code fallbackReason} (may be null) is told why the model's template is not used.
     */
    public static ChatFormat templateOf(LoadedModel model, Consumer<String> fallbackReason) {
        var t = model.gguf().get("tokenizer.chat_template");
        String source = t == null ? null : t.asString();
        if (source == null || source.isBlank()) return ChatTemplate.PLAIN;
        try {
            var v = model.tokenizer().vocabulary();
            String bos = v.bos() >= 0 && v.bos() < v.size() ? v.text(v.bos()) : null;
            String eos = v.eos() >= 0 && v.eos() < v.size() ? v.text(v.eos()) : null;
            return new ModelChatTemplate(source, bos, eos, Map.of());
        } catch (JinjaException e) {
            ChatTemplate family = ChatTemplate.detect(source);
            if (fallbackReason != null) {
                fallbackReason.accept("the model's chat template does not parse (" + e.getMessage() + "); using the "
                        + family.label() + " family's format instead");
            }
            return family;
        }
    }

    /**
     * A format by name, for {@code chat.template} or {@code --template}: {@code jinja} is the model's own template
     * (refused, with the reason, when the model has none that parses), any other name a family
     * ({@link ChatTemplate#named}).
     */
    public static ChatFormat templateNamed(String name, LoadedModel model) {
        if (!name.equalsIgnoreCase(ModelChatTemplate.LABEL)) return ChatTemplate.named(name);
        String[] why = {"the model has no tokenizer.chat_template"};
        ChatFormat f = templateOf(model, reason -> why[0] = reason);
        if (!(f instanceof ModelChatTemplate)) throw new IllegalArgumentException("chat template 'jinja': " + why[0]);
        return f;
    }

    /** As {@link #templateOf(LoadedModel, Consumer)}, quietly. */
    public static ChatFormat templateOf(LoadedModel model) {
        return templateOf(model, null);
    }

    /**
     * The format this conversation's turns are rendered with: the one its first turn used (by label), else the
     * configured one.
     */
    public ChatFormat template() {
        String label = state.template();
        if (label == null || label.equals(template.label())) return template;
        if (label.equals(ModelChatTemplate.LABEL)) {
            throw new TurnRefused("this conversation was started with the model's own chat template, and this service"
                    + " now renders with '" + template.label() + "' (chat.template): it cannot go on consistently");
        }
        return ChatTemplate.named(label);
    }

    public ConversationState state() {
        return state;
    }

    /** The conversation's tokens: those in the cache and the pending one. */
    public int tokens() {
        return cache.size() + state.pendingTokens().length;
    }

    /** Forgets the conversation. */
    public void reset() {
        cache.clear();
        state.reset();
    }

    /** Told how far a turn's prefill has got. */
    public interface PrefillProgress {
        void done(int tokens, int of);
    }

    /**
     * Adds {@code message} and, when {@code reply}, generates the answer under {@code request} (whose history becomes
     * the turn's tokens), streaming its text to {@code listener}. Throws {@link TurnRefused}, with nothing changed,
     * when the turn does not fit the limit; any other exception leaves the cache half-updated. A turn that shifted the
     * context is taken back to just after the shift.
     */
    public Turn turn(Message message, boolean reply, Decoder.Request request, Decoder.TokenListener listener) {
        return turn(message, reply, request, listener, null);
    }

    /**
     * As {@link #turn(Message, boolean, Decoder.Request, Decoder.TokenListener)}; {@code prefillProgress} (or null)
     * gets (done, total) prompt tokens after each prefill batch.
     */
    public Turn turn(
            Message message,
            boolean reply,
            Decoder.Request request,
            Decoder.TokenListener listener,
            PrefillProgress prefillProgress) {
        ChatFormat rendering = template();
        int[] tokens = state.turnTokens(decoder.tokenizer(), rendering, cache.size(), message, reply);
        if (tokens.length == 0 && reply) throw new TurnRefused("nothing to reply to: the turn adds no tokens");
        int need = tokens.length + (reply ? Math.min(request.maxTokens(), replyReserve()) : 0), shifted = 0;
        if (overflow == Overflow.SHIFT && cache.position() + need > tokenLimit && cache.canShift(cache.shiftSinks())) {
            shifted = shiftFor(need);
        } else if (cache.position() + tokens.length > tokenLimit) {
            throw new TurnRefused("the turn adds " + tokens.length + " tokens to a conversation of " + cache.position()
                    + "; it holds at most " + tokenLimit + " tokens");
        }
        // After a shift (which drops the marks) and every refusal: a mark is made only for a turn that is applied.
        if (undoTurns > 0) cache.mark(undoTurns);
        if (tokens.length == 0) {
            state.prefilled(rendering, message);
            return new Turn(0, null, 0, shifted);
        }
        long t0 = System.nanoTime();
        float[] logits = decoder.prefill(
                cache,
                tokens,
                0,
                tokens.length,
                prefillProgress == null ? null : done -> prefillProgress.done(done, tokens.length));
        state.prefilled(rendering, message);
        long prefill = System.nanoTime() - t0;
        if (!reply) return new Turn(tokens.length, null, prefill, shifted);
        Decoder.Reply r = decoder.generate(cache, tokenLimit, logits, request.withHistory(tokens), listener);
        state.replied(rendering, decoder.tokenizer(), r);
        return new Turn(tokens.length, r, prefill, shifted);
    }

    /**
     * Positions a shift keeps free for the reply: its budget, up to a quarter of the limit (past that it ends
     * CONTEXT_FULL).
     */
    private int replyReserve() {
        return (tokenLimit - cache.shiftSinks()) / 4;
    }

    /**
     * Shifts the cache so that {@code need} more positions fit: gives back what is missing, and at least a quarter of
     * the positions after the sinks (so that shifts, which rewrite the stored session, stay rare). Refuses, with
     * nothing changed, when even that cannot make room while keeping one recent token.
     */
    private int shiftFor(int need) {
        int position = cache.position(), sinks = cache.shiftSinks(), missing = position + need - tokenLimit;
        int discard = Math.max(missing, (position - sinks) / 4);
        if (need > tokenLimit - sinks - 1 || discard > position - sinks - 1) {
            throw new TurnRefused("the turn needs " + need
                    + " positions (its tokens and the reply's reserve) after a conversation of " + position
                    + "; it holds at most " + tokenLimit + ", and a context shift keeps " + sinks
                    + " sinks and one recent token");
        }
        cache.shift(discard, cache.shiftSinks(), decoder.model().rope().rotationBy(-discard));
        return discard;
    }

    /** Adds a system or user message without a reply. */
    public void add(Message message) {
        turn(message, false, Decoder.Request.of(SamplerConfig.GREEDY, 0), null);
    }

    /** Adds a user message and streams the reply to {@code listener}; returns the reply's text. */
    public String reply(String userText, SamplerConfig sampling, int maxTokens, Decoder.TokenListener listener) {
        return turn(Message.user(userText), true, Decoder.Request.of(sampling, maxTokens), listener)
                .reply()
                .text();
    }
}
