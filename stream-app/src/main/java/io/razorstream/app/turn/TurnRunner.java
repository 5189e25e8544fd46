package io.razorstream.app.turn;

import com.google.protobuf.ByteString;
import io.razorstream.app.model.ServedModel;
import io.razorstream.engine.chat.Conversation;
import io.razorstream.engine.chat.ConversationState;
import io.razorstream.engine.chat.Message;
import io.razorstream.engine.chat.TurnRefused;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.TokenLogprob;
import io.razorstream.proto.v1.TopLogprob;
import io.razorstream.store.Session;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * Applies one turn to a session: the engine's {@link Conversation} over the session's cache and bookkeeping (the same
 * code as the terminal chat), with the request's generation parameters, each piece of reply text handed to {@code sink}
 * as it is complete.
 */
public final class TurnRunner {
    private static final Logger log = LoggerFactory.getLogger(TurnRunner.class);
    /** Receives reply text as it is generated. */
    @FunctionalInterface
    public interface TextSink {
        void delta(String text);
    }

    private final ServedModel model;
    private final Decoder decoder;
    private final int maxSessionTokens;
    private final Conversation.Overflow overflow;
    private final int undoTurns;

    /**
     * {@code maxSessionTokens}: the positions a session may use; 0 or more than the model's context: the context. A
     * turn that would go past them shifts the session or is refused, as {@code overflow} says. The last
     * {@code undoTurns} turns of a session can be taken back ({@link Session#rollback}; 0: none).
     */
    public TurnRunner(
            ServedModel model, Parallel parallel, int maxSessionTokens, Conversation.Overflow overflow, int undoTurns) {
        this.overflow = overflow;
        this.undoTurns = undoTurns;
        this.model = model;
        this.decoder = model.loaded().decoder(parallel);
        int context = model.loaded().model().config().contextLength();
        this.maxSessionTokens = maxSessionTokens <= 0 ? context : Math.min(maxSessionTokens, context);
    }

    /** Turns of a session that can be taken back (none for a cache whose heads evict by attention). */
    public int undoTurns(Session session) {
        return session.cache().canMark() ? undoTurns : 0;
    }

    /**
     * Runs the turn {@code turnId}. Throws {@link TurnRefused}, with nothing changed, when the turn cannot fit the
     * session's limit; any other exception leaves the session's cache half-updated (drop it). Once {@code cancelled}
     * says so, the turn stops at its next prefill chunk or token with a CancellationException.
     */
    public TurnResult run(
            Session session,
            String turnId,
            String role,
            String text,
            boolean reply,
            GenerationParams params,
            int defaultTokens,
            TextSink sink,
            BooleanSupplier cancelled) {
        int undo = undoTurns(session);
        ConversationState before = session.conversation().copy();
        Conversation conversation = new Conversation(
                decoder, model.template(), session.cache(), session.conversation(), maxSessionTokens, overflow, undo);
        int maxTokens = params.hasMaxTokens() ? params.getMaxTokens() : defaultTokens;
        Decoder.Request request;
        try {
            request = Decoder.Request.of(samplerConfig(params), maxTokens)
                    .withStop(params.getStopList())
                    .withGrammar(ResponseFormats.grammar(params));
            if (params.getLogprobs() || params.hasTopLogprobs())
                request = request.withLogprobs(params.hasTopLogprobs() ? params.getTopLogprobs() : 0);
        } catch (IllegalArgumentException e) { // a schema or budget the request should not have had
            throw new TurnRefused(e.getMessage());
        }
        Conversation.PrefillProgress progress = progressLog(session.id(), turnId);
        Conversation.Turn turn = conversation.turn(
                new Message(role, text),
                reply,
                request,
                (token, piece) -> {
                    stopIf(cancelled);
                    sink.delta(piece);
                },
                (done, of) -> {
                    stopIf(cancelled);
                    progress.done(done, of);
                });
        if (undo > 0) session.turnMarked(turnId, role, text, reply, before);
        session.turnRan(turnId, undoTurns + 1);
        Decoder.Reply r = turn.reply();
        if (r == null)
            return new TurnResult(
                    "",
                    turn.promptTokens(),
                    0,
                    FinishReason.FINISH_REASON_NO_REPLY,
                    turn.prefillNanos(),
                    0,
                    turn.shiftedTokens(),
                    List.of());
        return new TurnResult(
                r.text(),
                turn.promptTokens(),
                r.tokens().length,
                finishReason(r.finish()),
                turn.prefillNanos(),
                r.nanos(),
                turn.shiftedTokens(),
                logprobs(r));
    }

    /** The reply's log probabilities as the protocol carries them (tokens as their bytes). */
    private List<TokenLogprob> logprobs(Decoder.Reply r) {
        List<TokenLogprob> out = new ArrayList<>(r.logprobs().size());
        for (var lp : r.logprobs()) {
            TokenLogprob.Builder b = TokenLogprob.newBuilder()
                    .setToken(ByteString.copyFrom(decoder.tokenizer().piece(lp.token())))
                    .setLogprob(lp.logprob());
            for (int i = 0; i < lp.top().length; i++) {
                b.addTop(TopLogprob.newBuilder()
                        .setToken(ByteString.copyFrom(decoder.tokenizer().piece(lp.top()[i])))
                        .setLogprob(lp.topLogprobs()[i]));
            }
            out.add(b.build());
        }
        return out;
    }

    private static void stopIf(BooleanSupplier cancelled) {
        if (cancelled.getAsBoolean())
            throw new CancellationException("the turn was cancelled (its partition is closing)");
    }

    /** Logs a long prefill's progress, a line every 5 s (short turns never log). */
    private static Conversation.PrefillProgress progressLog(String session, String turnId) {
        long started = System.nanoTime();
        long[] last = {started};
        return (done, of) -> {
            long now = System.nanoTime();
            if (now - last[0] >= 5_000_000_000L && done < of) {
                last[0] = now;
                log.info(
                        "prefill session={} turn={}: {} of {} tokens in {} s",
                        session,
                        turnId,
                        done,
                        of,
                        (now - started) / 1_000_000_000L);
            }
        };
    }

    private static FinishReason finishReason(io.razorstream.engine.generation.FinishReason f) {
        return switch (f) {
            case END_OF_GENERATION -> FinishReason.FINISH_REASON_END_OF_GENERATION;
            case STOP -> FinishReason.FINISH_REASON_STOP;
            case LENGTH -> FinishReason.FINISH_REASON_LENGTH;
            case CONTEXT_FULL -> FinishReason.FINISH_REASON_CONTEXT_FULL;
        };
    }

    /** Greedy unless a temperature is given; the engine's defaults for the rest. */
    public static SamplerConfig samplerConfig(GenerationParams p) {
        float temperature = p.hasTemperature() ? p.getTemperature() : 0f;
        return new SamplerConfig(
                temperature,
                p.hasTopK() ? p.getTopK() : 0,
                p.hasTopP() ? p.getTopP() : 1f,
                p.hasMinP() ? p.getMinP() : 0f,
                p.hasRepeatPenalty() ? p.getRepeatPenalty() : 1f,
                64,
                p.hasSeed() ? p.getSeed() : 42L);
    }
}
