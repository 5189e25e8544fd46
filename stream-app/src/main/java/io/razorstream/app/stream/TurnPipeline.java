package io.razorstream.app.stream;

import io.razorstream.app.model.ServedModel;
import io.razorstream.app.turn.TurnResult;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.proto.v1.CacheStats;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.ReplyEvent;
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

/**
 * The one turn pipeline of the service, between the Kafka record and the reply: a delete, a turn id seen before
 * (its stored reply again, nothing changes), a rollback (the last turns taken back), or new turns run on the session
 * (found, loaded or created) by the {@link TurnRunner} - after taking back the last one for a regenerate -, committed to
 * the store, and answered with the reply event. A batch is applied all or none; a refused turn leaves the session as it was.
 */
final class TurnPipeline {
    private static final Logger log = LoggerFactory.getLogger(TurnPipeline.class);

    private final RazorTopology.Settings settings;
    private final ServedModel model;
    private final TurnRunner runner;
    private final SessionRepository sessions;
    private final DamagedSessions damaged;

    TurnPipeline(RazorTopology.Settings settings, ServedModel model, TurnRunner runner, SessionRepository sessions, DamagedSessions damaged) {
        this.settings = settings;
        this.model = model;
        this.runner = runner;
        this.sessions = sessions;
        this.damaged = damaged;
    }

    /**
     * Applies one validated turn event (a delete, one turn, or a batch applied all or none) and returns its reply.
     * Throws {@link io.razorstream.store.StoreFormatException} when the session's stored state fails its checks.
     */
    ReplyEvent apply(TurnEvent turn, TokenRouter.Waiter waiter, long now) {
        String id = turn.getSessionId();
        if (turn.getDeleteSession()) {
            boolean existed = sessions.exists(id);
            sessions.delete(id);
            damaged.cleared(id);
            return reply(turn, now).setFinishReason(FinishReason.FINISH_REASON_DELETED).setDuplicate(!existed).build();
        }
        String broken = damaged.broken(id);
        if (broken != null) throw new StoreFormatException(broken + " (found earlier; delete the session to start it again)");
        Session session = sessions.find(id).orElse(null);
        boolean batch = turn.getTurnsCount() > 0;
        if (!batch && session != null) {
            Optional<AppliedTurn> done = sessions.appliedTurn(session, turn.getTurnId());
            if (done.isPresent()) return duplicate(turn, done.get(), session, waiter, now);
        }
        if (turn.getRollbackTurns() > 0) return rollback(turn, session, now);
        List<Message> todo = new ArrayList<>();
        List<String> takenBack = List.of();
        if (turn.getRegenerate()) {
            String problem = regenerateProblem(turn, session);
            if (problem != null) return error(turn, "FAILED_PRECONDITION", problem, session);
            Session.TurnMark last = session.undoableTurns().get(0);
            takenBack = takeBack(session, 1);
            todo.add(new Message(turn.getTurnId(), last.role(), turn.getText().isEmpty() ? last.text() : turn.getText()));
        } else if (batch) {
            Set<String> seen = new HashSet<>();
            for (Turn t : turn.getTurnsList()) {
                if (seen.add(t.getTurnId()) && (session == null || sessions.appliedTurn(session, t.getTurnId()).isEmpty())) {
                    todo.add(new Message(t.getTurnId(), role(t.getRole()), t.getText()));
                }
            }
            if (todo.isEmpty()) {
                return reply(turn, now).setFinishReason(FinishReason.FINISH_REASON_NO_REPLY).setDuplicate(true).setCache(stats(session)).build();
            }
        } else {
            todo.add(new Message(turn.getTurnId(), role(turn.getRole()), turn.getText()));
        }
        if (session == null) {
            session = Session.create(id, model.loaded().model().config(), model.policy(), model.precision(), model.fingerprint(),
                    model.profileFingerprint(), settings.blockTokens());
        }
        boolean wantsReply = turn.getRegenerate() || (!batch && turn.getReply());
        int prompt = 0, shifted = 0;
        long prefill = 0;
        TurnResult last = null;
        List<AppliedTurn> applied = new ArrayList<>();
        for (int i = 0; i < todo.size(); i++) {
            Message t = todo.get(i);
            try {
                last = runner.run(session, t.turnId(), t.role(), t.text(), wantsReply, turn.getParams(), settings.defaultReplyTokens(),
                        waiter == null ? text -> {} : waiter::delta);
            } catch (IllegalArgumentException e) { // this turn was refused before it changed anything
                // all or none: the in-memory copy goes when earlier turns of the batch (or the regenerate's rollback) changed it
                if (i > 0 || turn.getRegenerate()) sessions.evict(id);
                String which = batch ? "turn " + (turn.getTurnsList().stream().map(Turn::getTurnId).toList().indexOf(t.turnId()) + 1) + " of "
                        + turn.getTurnsCount() + " ('" + t.turnId() + "'): " : "";
                return error(turn, "INVALID_ARGUMENT", which + e.getMessage() + (batch ? "; no turn of the batch was applied" : ""),
                        i > 0 || turn.getRegenerate() ? null : session);
            } catch (RuntimeException e) {
                log.error("turn {} of session '{}' failed; the session is reloaded from the store", t.turnId(), id, e);
                sessions.evict(id);
                return error(turn, "INTERNAL", "the turn failed: " + e, null);
            }
            prompt += last.promptTokens();
            prefill += last.prefillNanos();
            shifted += last.shiftedTokens();
            applied.add(new AppliedTurn(t.turnId(), last.text(), last.finishReason().getNumber(), last.promptTokens(), last.completionTokens()));
        }
        for (AppliedTurn a : applied) session.recordTurn(a);
        sessions.commit(session, now);
        damaged.cleared(id);
        return reply(turn, now).setText(last.text()).setPromptTokens(prompt).setCompletionTokens(last.completionTokens())
                .setFinishReason(batch ? FinishReason.FINISH_REASON_NO_REPLY : last.finishReason()).setCache(stats(session))
                .setTurnsApplied(applied.size()).setPrefillMicros(prefill / 1000).setDecodeMicros(last.decodeNanos() / 1000).setShiftedTokens(shifted)
                .addAllRolledBackTurnIds(takenBack).build();
    }

    /** A message of the event to run: its turn id, chat role and text. */
    private record Message(String turnId, String role, String text) {}

    /** Why a regenerate cannot be applied to the session, or null. */
    private String regenerateProblem(TurnEvent turn, Session session) {
        if (session == null) return "no session '" + turn.getSessionId() + "' to regenerate a reply in";
        List<Session.TurnMark> undoable = session.undoableTurns();
        if (undoable.isEmpty()) return "session '" + turn.getSessionId() + "' has no turn to take back" + whyNoUndo(session);
        Session.TurnMark last = undoable.get(0);
        if (!last.replied()) return "the last turn of session '" + turn.getSessionId() + "' ('" + last.turnId() + "') asked for no reply: nothing to regenerate";
        return null;
    }

    /** A rollback event: the last turns taken back, the rollback itself remembered under its turn id. */
    private ReplyEvent rollback(TurnEvent turn, Session session, long now) {
        String id = turn.getSessionId();
        if (session == null) return error(turn, "NOT_FOUND", "no session '" + id + "'", null);
        int want = turn.getRollbackTurns(), can = session.undoableTurns().size();
        if (want > can) {
            return error(turn, "FAILED_PRECONDITION", "cannot take back " + want + " turn" + (want == 1 ? "" : "s") + " of session '" + id + "': "
                    + can + " can be" + whyNoUndo(session), session);
        }
        List<String> taken = takeBack(session, want);
        session.recordTurn(new AppliedTurn(turn.getTurnId(), "", FinishReason.FINISH_REASON_ROLLED_BACK_VALUE, 0, 0));
        sessions.commit(session, now);
        return reply(turn, now).setFinishReason(FinishReason.FINISH_REASON_ROLLED_BACK).setCache(stats(session)).addAllRolledBackTurnIds(taken).build();
    }

    /** Takes back the session's last {@code turns} turns (which can be) and marks their turn ids taken back; returns them, newest first. */
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

    /** The stored outcome of a turn id applied before: the same text, finish reason and token counts; nothing changes. */
    private static ReplyEvent duplicate(TurnEvent turn, AppliedTurn done, Session session, TokenRouter.Waiter waiter, long now) {
        if (done.rolledBack()) {
            return error(turn, "FAILED_PRECONDITION", "turn '" + turn.getTurnId() + "' of session '" + turn.getSessionId() + "' was taken back by a "
                    + "rollback; a turn id is applied at most once, so send the turn again under a new turn id", session);
        }
        if (waiter != null && !done.reply().isEmpty()) waiter.delta(done.reply());
        return reply(turn, now).setText(done.reply()).setDuplicate(true).setFinishReason(FinishReason.forNumber(done.finishReason()))
                .setPromptTokens(done.promptTokens()).setCompletionTokens(done.completionTokens()).setCache(stats(session)).build();
    }

    private static ReplyEvent.Builder reply(TurnEvent turn, long now) {
        return ReplyEvent.newBuilder().setSessionId(turn.getSessionId()).setTurnId(turn.getTurnId()).setCreatedAtMs(now);
    }

    /** The chat role of a turn: documents are shown to the model as user messages. */
    static String role(io.razorstream.proto.v1.Role r) {
        return switch (r) {
            case ROLE_SYSTEM -> "system";
            case ROLE_ASSISTANT -> "assistant";
            default -> "user";
        };
    }

    static CacheStats stats(Session s) {
        if (s == null) return CacheStats.getDefaultInstance();
        return CacheFigures.of(s.tokens(), s.cache().bytesInUse(), s.cache().fullBytes(), s.cache().positionOffset(), s.cache().shifts(),
                s.cache().undoBytes(), s.undoableTurns().size());
    }

    /** A reply refusing the turn with a gRPC status code name and a message; the cache figures when the session has any. */
    static ReplyEvent error(TurnEvent turn, String code, String message, Session session) {
        ReplyEvent.Builder b = ReplyEvent.newBuilder().setSessionId(turn.getSessionId()).setTurnId(turn.getTurnId())
                .setFinishReason(FinishReason.FINISH_REASON_ERROR).setError(message).setErrorCode(code).setCreatedAtMs(System.currentTimeMillis());
        if (session != null && session.tokens() > 0) b.setCache(stats(session));
        return b.build();
    }
}
