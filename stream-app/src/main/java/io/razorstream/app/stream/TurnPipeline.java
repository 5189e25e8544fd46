package io.razorstream.app.stream;

import io.razorstream.app.model.ServedModel;
import io.razorstream.app.turn.TurnResult;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.engine.chat.TurnRefused;
import io.razorstream.proto.v1.CacheStats;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.Role;
import io.razorstream.proto.v1.Turn;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.store.AppliedTurn;
import io.razorstream.store.Session;
import io.razorstream.store.SessionRepository;
import io.razorstream.store.StoreFormatException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * The one turn pipeline of the service, between the Kafka record and the reply: a delete, a turn id seen before (its
 * stored reply again, nothing changes), a rollback (the last turns taken back), or new turns run on the session (found,
 * loaded or created) by the {@link TurnRunner} - after taking back the last one for a regenerate -, committed to the
 * store, and answered with the reply event. A batch is applied all or none; a refused turn leaves the session as it
 * was.
 *
 * <p>Three steps, so that the engine work can run off the stream thread: {@link #begin} (stream thread: everything but
 * the engine; answers at once, or returns the {@link EngineTurn}), {@link #run} (a turn thread: the engine, on the
 * session's in-memory copy only) and {@link #finish} (stream thread: the store write and the reply).
 */
final class TurnPipeline {
    private static final Logger log = LoggerFactory.getLogger(TurnPipeline.class);

    private final RazorTopology.Settings settings;
    private final ServedModel model;
    private final TurnRunner runner;
    private final SessionRepository sessions;
    private final DamagedSessions damaged;

    TurnPipeline(
            RazorTopology.Settings settings,
            ServedModel model,
            TurnRunner runner,
            SessionRepository sessions,
            DamagedSessions damaged) {
        this.settings = settings;
        this.model = model;
        this.runner = runner;
        this.sessions = sessions;
        this.damaged = damaged;
    }

    /** What {@link #begin} found: a reply already (nothing for the engine), or an {@link EngineTurn}. */
    sealed interface Step permits Answered, EngineTurn {}

    record Answered(ReplyEvent reply) implements Step {}

    /**
     * Turns of one event for the engine: prepared by {@link #begin}, run by {@link #run}, answered by {@link #finish}.
     */
    static final class EngineTurn implements Step {
        final TurnEvent turn;
        final Session session;
        final List<Message> todo;
        final List<String> takenBack;
        final boolean batch, wantsReply;
        final long loadNanos;
        // the outcome, set by run()
        private ReplyEvent refused;
        private boolean evict;
        private TurnResult last;
        private final List<AppliedTurn> applied = new ArrayList<>();
        private int prompt, shifted;
        private long prefill;

        private EngineTurn(
                TurnEvent turn,
                Session session,
                List<Message> todo,
                List<String> takenBack,
                boolean batch,
                boolean wantsReply,
                long loadNanos) {
            this.turn = turn;
            this.session = session;
            this.todo = todo;
            this.takenBack = takenBack;
            this.batch = batch;
            this.wantsReply = wantsReply;
            this.loadNanos = loadNanos;
        }

        /** Engine time of the turn: prefill and decode, in nanoseconds. */
        long prefillNanos() {
            return prefill;
        }

        long decodeNanos() {
            return last == null ? 0 : last.decodeNanos();
        }
    }

    /**
     * Applies one validated turn event up to its engine work: answers a delete, a duplicate, a rollback or a refusal at
     * once; otherwise returns the turns to run. Throws {@link StoreFormatException} when the session's stored state
     * fails its checks.
     */
    Step begin(TurnEvent turn, TokenRouter.Waiter waiter, long now) {
        String id = turn.getSessionId();
        if (turn.getDeleteSession()) {
            boolean existed = sessions.exists(id);
            sessions.delete(id);
            damaged.cleared(id);
            return new Answered(reply(turn, now)
                    .setFinishReason(FinishReason.FINISH_REASON_DELETED)
                    .setDuplicate(!existed)
                    .build());
        }
        String broken = damaged.broken(id);
        if (broken != null)
            throw new StoreFormatException(broken + " (found earlier; delete the session to start it again)");
        long t0 = System.nanoTime();
        Session session = sessions.find(id).orElse(null);
        long load = System.nanoTime() - t0;
        boolean batch = turn.getTurnsCount() > 0;
        if (!batch && session != null) {
            Optional<AppliedTurn> done = sessions.appliedTurn(session, turn.getTurnId());
            if (done.isPresent()) return new Answered(duplicate(turn, done.get(), session, waiter, now));
        }
        String conflict = batch ? null : historyConflict(turn, session); // a batch's: once its duplicates are known
        if (conflict != null) return new Answered(error(turn, "ABORTED", conflict, session));
        if (turn.getRollbackTurns() > 0) return new Answered(rollback(turn, session, now));
        List<Message> todo = new ArrayList<>();
        List<String> takenBack = List.of();
        if (turn.getRegenerate()) {
            String problem = regenerateProblem(turn, session);
            if (problem != null) return new Answered(error(turn, "FAILED_PRECONDITION", problem, session));
            Session.TurnMark last = session.undoableTurns().get(0);
            takenBack = takeBack(session, 1);
            todo.add(new Message(
                    turn.getTurnId(), last.role(), turn.getText().isEmpty() ? last.text() : turn.getText()));
        } else if (batch) {
            Set<String> seen = new HashSet<>();
            for (Turn t : turn.getTurnsList()) {
                if (seen.add(t.getTurnId())
                        && (session == null
                                || sessions.appliedTurn(session, t.getTurnId()).isEmpty())) {
                    todo.add(new Message(t.getTurnId(), role(t.getRole()), t.getText()));
                }
            }
            if (todo.isEmpty()) {
                return new Answered(reply(turn, now)
                        .setFinishReason(FinishReason.FINISH_REASON_NO_REPLY)
                        .setDuplicate(true)
                        .setCache(stats(session))
                        .build());
            }
            conflict = historyConflict(turn, session);
            if (conflict != null) return new Answered(error(turn, "ABORTED", conflict, session));
        } else {
            todo.add(new Message(turn.getTurnId(), role(turn.getRole()), turn.getText()));
        }
        if (session == null) {
            session = Session.create(
                    id,
                    model.loaded().model().config(),
                    model.policy(),
                    model.precision(),
                    model.fingerprint(),
                    model.profileFingerprint(),
                    settings.blockTokens());
        }
        return new EngineTurn(
                turn, session, todo, takenBack, batch, turn.getRegenerate() || (!batch && turn.getReply()), load);
    }

    /**
     * Why the event's history condition fails on the session as it is now, or null (no condition, or it holds). A
     * writer that read the session before another one changed it is refused instead of applied on a history it never
     * saw.
     */
    static String historyConflict(TurnEvent turn, Session session) {
        if (!turn.hasIfHistory()) return null;
        String expected = turn.getIfHistory().getLastTurnId();
        List<String> recent = session == null ? List.of() : session.recentTurnIds();
        String actual = recent.isEmpty() ? "" : recent.get(0);
        if (actual.equals(expected)) return null;
        return "session '" + turn.getSessionId() + "' changed since the caller read it: its last turn is "
                + (actual.isEmpty() ? "none" : "'" + actual + "'") + ", the caller expected "
                + (expected.isEmpty() ? "none" : "'" + expected + "'")
                + " (another request wrote to the session meanwhile); nothing was applied";
    }

    /**
     * The engine part of an {@link EngineTurn}, on a turn thread: runs its turns on the session's in-memory copy, which
     * nothing else touches meanwhile; text goes to {@code waiter} (or nowhere). Never throws: the outcome waits in the
     * turn for {@link #finish}. Stops early once {@code cancelled} says so (the outcome is then an error).
     */
    void run(EngineTurn e, TokenRouter.Waiter waiter, BooleanSupplier cancelled) {
        TurnEvent turn = e.turn;
        for (int i = 0; i < e.todo.size(); i++) {
            Message t = e.todo.get(i);
            try {
                e.last = runner.run(
                        e.session,
                        t.turnId(),
                        t.role(),
                        t.text(),
                        e.wantsReply,
                        turn.getParams(),
                        settings.defaultReplyTokens(),
                        waiter == null ? text -> {} : waiter::delta,
                        cancelled);
            } catch (TurnRefused refused) { // this turn was refused before it changed anything
                // all or none: the in-memory copy goes when earlier turns of the batch (or the regenerate's rollback)
                // changed it
                boolean changed = i > 0 || turn.getRegenerate();
                String which = e.batch
                        ? "turn "
                                + (turn.getTurnsList().stream()
                                                .map(Turn::getTurnId)
                                                .toList()
                                                .indexOf(t.turnId())
                                        + 1) + " of " + turn.getTurnsCount() + " ('" + t.turnId() + "'): "
                        : "";
                e.evict = changed;
                e.refused = error(
                        turn,
                        "INVALID_ARGUMENT",
                        which + refused.getMessage() + (e.batch ? "; no turn of the batch was applied" : ""),
                        changed ? null : e.session);
                return;
            } catch (CancellationException c) {
                e.evict = true;
                e.refused = error(
                        turn,
                        "UNAVAILABLE",
                        "the turn was stopped: its partition moved or the service is shutting down; send it again "
                                + "with the same turn id",
                        null);
                return;
            } catch (RuntimeException | Error failure) {
                log.error(
                        "turn {} of session '{}' failed; the session is reloaded from the store",
                        t.turnId(),
                        turn.getSessionId(),
                        failure);
                e.evict = true;
                e.refused = error(turn, "INTERNAL", "the turn failed: " + failure, null);
                return;
            }
            e.prompt += e.last.promptTokens();
            e.prefill += e.last.prefillNanos();
            e.shifted += e.last.shiftedTokens();
            e.applied.add(new AppliedTurn(
                    t.turnId(),
                    e.last.text(),
                    e.last.finishReason().getNumber(),
                    e.last.promptTokens(),
                    e.last.completionTokens()));
        }
    }

    /**
     * Answers a run {@link EngineTurn} on the stream thread: commits the session's changes to the store, or drops them.
     */
    ReplyEvent finish(EngineTurn e, long now) {
        String id = e.turn.getSessionId();
        if (e.refused != null) {
            if (e.evict) sessions.evict(id);
            return e.refused;
        }
        Session session = e.session;
        for (AppliedTurn a : e.applied) session.recordTurn(a);
        sessions.commit(session, now);
        damaged.cleared(id);
        TurnResult last = e.last;
        return reply(e.turn, now)
                .setText(last.text())
                .setPromptTokens(e.prompt)
                .setCompletionTokens(last.completionTokens())
                .setFinishReason(e.batch ? FinishReason.FINISH_REASON_NO_REPLY : last.finishReason())
                .setCache(stats(session))
                .setTurnsApplied(e.applied.size())
                .setPrefillMicros(e.prefill / 1000)
                .setDecodeMicros(last.decodeNanos() / 1000)
                .setShiftedTokens(e.shifted)
                .addAllRolledBackTurnIds(e.takenBack)
                .addAllLogprobs(last.logprobs())
                .build();
    }

    /** A message of the event to run: its turn id, chat role and text. */
    record Message(String turnId, String role, String text) {}

    /** Why a regenerate cannot be applied to the session, or null. */
    private String regenerateProblem(TurnEvent turn, Session session) {
        if (session == null) return "no session '" + turn.getSessionId() + "' to regenerate a reply in";
        List<Session.TurnMark> undoable = session.undoableTurns();
        if (undoable.isEmpty())
            return "session '" + turn.getSessionId() + "' has no turn to take back" + whyNoUndo(session);
        Session.TurnMark last = undoable.get(0);
        if (!last.replied())
            return "the last turn of session '" + turn.getSessionId() + "' ('" + last.turnId()
                    + "') asked for no reply: nothing to regenerate";
        return null;
    }

    /** A rollback event: the last turns taken back, the rollback itself remembered under its turn id. */
    private ReplyEvent rollback(TurnEvent turn, Session session, long now) {
        String id = turn.getSessionId();
        if (session == null) return error(turn, "NOT_FOUND", "no session '" + id + "'", null);
        int want = turn.getRollbackTurns(), can = session.undoableTurns().size();
        if (want > can) {
            return error(
                    turn,
                    "FAILED_PRECONDITION",
                    "cannot take back " + want + " turn" + (want == 1 ? "" : "s") + " of session '" + id + "': " + can
                            + " can be" + whyNoUndo(session),
                    session);
        }
        List<String> taken = takeBack(session, want);
        session.recordTurn(new AppliedTurn(turn.getTurnId(), "", FinishReason.FINISH_REASON_ROLLED_BACK_VALUE, 0, 0));
        sessions.commit(session, now);
        return reply(turn, now)
                .setFinishReason(FinishReason.FINISH_REASON_ROLLED_BACK)
                .setCache(stats(session))
                .addAllRolledBackTurnIds(taken)
                .build();
    }

    /**
     * Takes back the session's last {@code turns} turns (which can be) and marks their turn ids taken back; returns
     * them, newest first.
     */
    private List<String> takeBack(Session session, int turns) {
        List<String> ids = new ArrayList<>();
        for (Session.TurnMark m : session.rollback(turns)) {
            sessions.appliedTurn(session, m.turnId()).ifPresent(session::recordTakenBack);
            ids.add(m.turnId());
        }
        return ids;
    }

    /** Why fewer turns can be taken back than one might expect. */
    private String whyNoUndo(Session session) {
        int undo = runner.undoTurns(session);
        if (undo == 0) return " (session.undo-turns is 0, or the cache's heads evict by attention)";
        return " (at most the last " + undo + " turns, session.undo-turns; a context shift or a rollback uses them up)";
    }

    /**
     * The stored outcome of a turn id applied before: the same text, finish reason and token counts; nothing changes.
     */
    private static ReplyEvent duplicate(
            TurnEvent turn, AppliedTurn done, Session session, TokenRouter.Waiter waiter, long now) {
        if (done.rolledBack()) {
            return error(
                    turn,
                    "FAILED_PRECONDITION",
                    "turn '" + turn.getTurnId() + "' of session '" + turn.getSessionId() + "' was taken back by a "
                            + "rollback; a turn id is applied at most once, so send the turn again under a new turn id",
                    session);
        }
        if (waiter != null && !done.reply().isEmpty()) waiter.delta(done.reply());
        return reply(turn, now)
                .setText(done.reply())
                .setDuplicate(true)
                .setFinishReason(FinishReason.forNumber(done.finishReason()))
                .setPromptTokens(done.promptTokens())
                .setCompletionTokens(done.completionTokens())
                .setCache(stats(session))
                .build();
    }

    private static ReplyEvent.Builder reply(TurnEvent turn, long now) {
        return ReplyEvent.newBuilder()
                .setSessionId(turn.getSessionId())
                .setTurnId(turn.getTurnId())
                .setCreatedAtMs(now);
    }

    /** The chat role of a turn: documents are shown to the model as user messages. */
    static String role(Role r) {
        return switch (r) {
            case ROLE_SYSTEM -> "system";
            case ROLE_ASSISTANT -> "assistant";
            case ROLE_RAW -> io.razorstream.engine.chat.Message.RAW;
            default -> "user";
        };
    }

    static CacheStats stats(Session s) {
        if (s == null) return CacheStats.getDefaultInstance();
        return CacheFigures.of(
                s.tokens(),
                s.cache().bytesInUse(),
                s.cache().fullBytes(),
                s.cache().positionOffset(),
                s.cache().shifts(),
                s.cache().undoBytes(),
                s.undoableTurns().size());
    }

    /**
     * A reply refusing the turn with a gRPC status code name and a message; the cache figures when the session has any.
     */
    static ReplyEvent error(TurnEvent turn, String code, String message, Session session) {
        ReplyEvent.Builder b = ReplyEvent.newBuilder()
                .setSessionId(turn.getSessionId())
                .setTurnId(turn.getTurnId())
                .setFinishReason(FinishReason.FINISH_REASON_ERROR)
                .setError(message)
                .setErrorCode(code)
                .setCreatedAtMs(System.currentTimeMillis());
        if (session != null && session.tokens() > 0) b.setCache(stats(session));
        return b.build();
    }
}
