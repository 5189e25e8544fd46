package io.razorstream.app.stream;

import com.google.protobuf.InvalidProtocolBufferException;
import io.razorstream.app.model.ServedModel;
import io.razorstream.app.turn.TurnResult;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.app.turn.TurnValidation;
import io.razorstream.proto.v1.CacheStats;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.Turn;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.store.AppliedTurn;
import io.razorstream.store.HotSessions;
import io.razorstream.store.Session;
import io.razorstream.store.SessionRepository;
import io.razorstream.store.SessionStore;
import io.razorstream.store.StoreFormatException;
import io.razorstream.store.StreamsStoreBackend;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.errors.ProcessorStateException;
import org.apache.kafka.streams.errors.TaskCorruptedException;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The heart of the service: applies each turn of a partition's sessions to their caches. Per session,
 * turns arrive in the partition's order. A turn id already applied gets its stored reply again and
 * changes nothing; a batch of turns is applied all or none; a malformed record goes to the dead-letter
 * topic with the reason; a turn that cannot be applied (too long for the context, an engine failure)
 * gets a reply with the error and leaves the session as it was. A session whose stored state fails its
 * checks is quarantined (DATA_LOSS, see {@link DamagedSessions}); every other session goes on.
 */
final class SessionProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    private static final Logger log = LoggerFactory.getLogger(SessionProcessor.class);
    static final String ERROR_HEADER = "razorstream.error";
    /** How long after finding damage the task is rebuilt: the DATA_LOSS reply is committed first. */
    private static final Duration REBUILD_DELAY = Duration.ofMillis(500);

    private final RazorTopology.Settings settings;
    private final ServedModel model;
    private final TurnRunner runner;
    private final HotSessions hot;
    private final TokenRouter router;
    private final DamagedSessions damaged;
    private ProcessorContext<byte[], byte[]> context;
    private SessionRepository sessions;
    private long rebuildAt = -1;
    /** Damaged sessions of this task found since the last rebuild (their next find before it is not "broken"). */
    private final Set<String> awaitingRebuild = new HashSet<>();

    SessionProcessor(RazorTopology.Settings settings, ServedModel model, TurnRunner runner, HotSessions hot, TokenRouter router,
                     DamagedSessions damaged) {
        this.settings = settings;
        this.model = model;
        this.runner = runner;
        this.hot = hot;
        this.router = router;
        this.damaged = damaged;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
        KeyValueStore<Bytes, byte[]> store = context.getStateStore(RazorTopology.STORE);
        sessions = new SessionRepository(new SessionStore(new StreamsStoreBackend(store)), hot, model.loaded().model().config(), model.fingerprint());
        context.schedule(settings.expiryInterval(), PunctuationType.WALL_CLOCK_TIME, now -> {
            for (String id : sessions.expireIdle(now, settings.ttl())) {
                log.info("session '{}' expired after {} idle", id, settings.ttl());
            }
        });
        context.schedule(REBUILD_DELAY, PunctuationType.WALL_CLOCK_TIME, now -> maybeRebuild(now));
    }

    /**
     * Damage was found in this task's store: once the DATA_LOSS reply has been committed, Kafka Streams is
     * told the task is corrupt, and it wipes the task's local store and restores it from the changelog.
     * Only from a punctuation, with no record in flight (thrown while processing a record, the revived task
     * was seen to stop taking records).
     */
    private void maybeRebuild(long now) {
        if (rebuildAt < 0 || now < rebuildAt) return;
        rebuildAt = -1;
        awaitingRebuild.forEach(damaged::rebuilt);
        awaitingRebuild.clear();
        log.warn("task {}: rebuilding the session store from its changelog", context.taskId());
        sessions.releaseAll();
        throw new TaskCorruptedException(Set.of(context.taskId()));
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        TurnEvent turn;
        try {
            if (record.value() == null) throw new InvalidProtocolBufferException("empty record");
            turn = TurnEvent.parseFrom(record.value());
        } catch (InvalidProtocolBufferException e) {
            deadLetter(record, "not a razorstream.v1.TurnEvent: " + e.getMessage());
            return;
        }
        String key = record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8);
        String problem = TurnValidation.problem(turn, settings.maxTextBytes(), settings.maxReplyTokens());
        if (problem == null && !turn.getSessionId().equals(key)) {
            problem = "the record key (" + key + ") must be the session id (" + turn.getSessionId() + ")";
        }
        TokenRouter.Waiter waiter = router.waiter(turn.getSessionId(), turn.getTurnId());
        if (problem != null) {
            deadLetter(record, problem);
            if (waiter != null) waiter.done(error(turn, "INVALID_ARGUMENT", problem, null));
            return;
        }
        ReplyEvent reply;
        try {
            reply = apply(turn, waiter, context.currentSystemTimeMs());
        } catch (StoreFormatException | ProcessorStateException e) {
            reply = quarantine(record, turn, e);
        }
        // A waiting call is completed by CommittedReplies once this reply is committed, not here.
        context.forward(new Record<>(record.key(), reply.toByteArray(), record.timestamp()), RazorTopology.REPLIES_SINK);
    }

    /** The session's stored state failed its checks: refuse the turn with DATA_LOSS and rebuild or mark it broken. */
    private ReplyEvent quarantine(Record<byte[], byte[]> record, TurnEvent turn, RuntimeException e) {
        String id = turn.getSessionId();
        sessions.evict(id);
        String damage = e.getMessage() == null ? e.toString() : e.getMessage();
        if (!damage.contains("'" + id + "'")) damage = "session '" + id + "': " + damage;
        String reason;
        if (!damaged.wasRebuilt(id)) {
            reason = damage + "; the session's partition is being rebuilt from its changelog, send the turn again shortly";
            if (awaitingRebuild.add(id) && rebuildAt < 0) {
                rebuildAt = context.currentSystemTimeMs() + REBUILD_DELAY.toMillis();
                context.commit();
            }
        } else {
            damaged.broke(id, damage);
            reason = damage + "; the changelog holds the damage too: the session stays broken until it is deleted";
        }
        log.error("turn {} refused: {}", turn.getTurnId(), reason, e);
        deadLetter(record, reason);
        return error(turn, "DATA_LOSS", reason, null);
    }

    private ReplyEvent apply(TurnEvent turn, TokenRouter.Waiter waiter, long now) {
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
        List<Turn> todo = new ArrayList<>();
        if (batch) {
            Set<String> seen = new HashSet<>();
            for (Turn t : turn.getTurnsList()) {
                if (seen.add(t.getTurnId()) && (session == null || sessions.appliedTurn(session, t.getTurnId()).isEmpty())) todo.add(t);
            }
            if (todo.isEmpty()) {
                return reply(turn, now).setFinishReason(FinishReason.FINISH_REASON_NO_REPLY).setDuplicate(true).setCache(stats(session)).build();
            }
        } else {
            todo.add(Turn.newBuilder().setTurnId(turn.getTurnId()).setRole(turn.getRole()).setText(turn.getText()).build());
        }
        if (session == null) {
            session = Session.create(id, model.loaded().model().config(), model.policy(), model.precision(), model.fingerprint(),
                    model.profileFingerprint(), settings.blockTokens());
        }
        int prompt = 0;
        long prefill = 0;
        TurnResult last = null;
        List<AppliedTurn> applied = new ArrayList<>();
        for (int i = 0; i < todo.size(); i++) {
            Turn t = todo.get(i);
            boolean wantsReply = !batch && turn.getReply();
            try {
                last = runner.run(session, role(t.getRole()), t.getText(), wantsReply, turn.getParams(), settings.defaultReplyTokens(),
                        waiter == null ? text -> {} : waiter::delta);
            } catch (IllegalArgumentException e) { // this turn was refused before it changed anything
                if (i > 0) sessions.evict(id); // all or none: drop the earlier turns of the batch with the in-memory copy
                String which = batch ? "turn " + (turn.getTurnsList().indexOf(t) + 1) + " of " + turn.getTurnsCount() + " ('" + t.getTurnId() + "'): " : "";
                return error(turn, "INVALID_ARGUMENT", which + e.getMessage() + (batch ? "; no turn of the batch was applied" : ""), i > 0 ? null : session);
            } catch (RuntimeException e) {
                log.error("turn {} of session '{}' failed; the session is reloaded from the store", t.getTurnId(), id, e);
                sessions.evict(id);
                return error(turn, "INTERNAL", "the turn failed: " + e, null);
            }
            prompt += last.promptTokens();
            prefill += last.prefillNanos();
            applied.add(new AppliedTurn(t.getTurnId(), last.text(), last.finishReason().getNumber(), last.promptTokens(), last.completionTokens()));
        }
        for (AppliedTurn a : applied) session.recordTurn(a);
        sessions.commit(session, now);
        damaged.cleared(id);
        return reply(turn, now).setText(last.text()).setPromptTokens(prompt).setCompletionTokens(last.completionTokens())
                .setFinishReason(batch ? FinishReason.FINISH_REASON_NO_REPLY : last.finishReason()).setCache(stats(session))
                .setTurnsApplied(applied.size()).setPrefillMicros(prefill / 1000).setDecodeMicros(last.decodeNanos() / 1000).build();
    }

    /** The stored outcome of a turn id applied before: the same text, finish reason and token counts; nothing changes. */
    private static ReplyEvent duplicate(TurnEvent turn, AppliedTurn done, Session session, TokenRouter.Waiter waiter, long now) {
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
        return CacheFigures.of(s.tokens(), s.cache().bytesInUse(), s.cache().fullBytes());
    }

    private static ReplyEvent error(TurnEvent turn, String code, String message, Session session) {
        ReplyEvent.Builder b = ReplyEvent.newBuilder().setSessionId(turn.getSessionId()).setTurnId(turn.getTurnId())
                .setFinishReason(FinishReason.FINISH_REASON_ERROR).setError(message).setErrorCode(code).setCreatedAtMs(System.currentTimeMillis());
        if (session != null && session.tokens() > 0) b.setCache(stats(session));
        return b.build();
    }

    private void deadLetter(Record<byte[], byte[]> record, String reason) {
        RecordHeaders headers = new RecordHeaders(record.headers().toArray());
        headers.add(ERROR_HEADER, reason.getBytes(StandardCharsets.UTF_8));
        context.recordMetadata().ifPresent(m -> headers.add("razorstream.source",
                (m.topic() + "/" + m.partition() + "@" + m.offset()).getBytes(StandardCharsets.UTF_8)));
        context.forward(new Record<>(record.key(), record.value(), record.timestamp(), headers), RazorTopology.DEAD_LETTER_SINK);
        log.warn("dead-lettered a record: {}", reason);
    }

    @Override
    public void close() {
        // The partition may move to another instance: its sessions' in-memory copies would go stale.
        sessions.releaseAll();
    }
}
