package io.razorstream.app.stream;

import com.google.protobuf.InvalidProtocolBufferException;
import io.razorstream.app.model.ServedModel;
import io.razorstream.app.turn.TurnResult;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.app.turn.TurnValidation;
import io.razorstream.proto.v1.CacheStats;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.store.HotSessions;
import io.razorstream.store.Session;
import io.razorstream.store.SessionRepository;
import io.razorstream.store.SessionStore;
import io.razorstream.store.StreamsStoreBackend;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * The heart of the service: applies each turn of a partition's sessions to their caches. Per session,
 * turns arrive in the partition's order. A turn id already applied gets its stored reply again and
 * changes nothing; a malformed record goes to the dead-letter topic with the reason; a turn that cannot
 * be applied (too long for the context, an engine failure) gets a reply with the error and leaves the
 * session as it was.
 */
final class SessionProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    private static final Logger log = LoggerFactory.getLogger(SessionProcessor.class);
    static final String ERROR_HEADER = "razorstream.error";

    private final RazorTopology.Settings settings;
    private final ServedModel model;
    private final TurnRunner runner;
    private final HotSessions hot;
    private final TokenRouter router;
    private ProcessorContext<byte[], byte[]> context;
    private SessionRepository sessions;

    SessionProcessor(RazorTopology.Settings settings, ServedModel model, TurnRunner runner, HotSessions hot, TokenRouter router) {
        this.settings = settings;
        this.model = model;
        this.runner = runner;
        this.hot = hot;
        this.router = router;
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
        if (problem != null) {
            deadLetter(record, problem);
            TokenRouter.Waiter w = router.waiter(turn.getSessionId(), turn.getTurnId());
            if (w != null) w.done(error(turn, "INVALID_ARGUMENT", problem, null));
            return;
        }
        TokenRouter.Waiter waiter = router.waiter(turn.getSessionId(), turn.getTurnId());
        ReplyEvent reply = apply(turn, waiter, record.timestamp());
        context.forward(new Record<>(record.key(), reply.toByteArray(), record.timestamp()), RazorTopology.REPLIES_SINK);
        if (waiter != null) waiter.done(reply);
    }

    private ReplyEvent apply(TurnEvent turn, TokenRouter.Waiter waiter, long timestamp) {
        String id = turn.getSessionId();
        long now = context.currentSystemTimeMs(); // the clock punctuation (idle expiry) uses too
        if (turn.getDeleteSession()) {
            boolean existed = sessions.exists(id);
            sessions.delete(id);
            return ReplyEvent.newBuilder().setSessionId(id).setTurnId(turn.getTurnId()).setFinishReason(FinishReason.FINISH_REASON_DELETED)
                    .setDuplicate(!existed).setCreatedAtMs(now).build();
        }
        Session session = sessions.find(id).orElse(null);
        if (session != null && session.replyOf(turn.getTurnId()).isPresent()) {
            String text = session.replyOf(turn.getTurnId()).get();
            if (waiter != null && !text.isEmpty()) waiter.delta(text);
            return ReplyEvent.newBuilder().setSessionId(id).setTurnId(turn.getTurnId()).setText(text).setDuplicate(true)
                    .setFinishReason(turn.getReply() ? FinishReason.FINISH_REASON_UNSPECIFIED : FinishReason.FINISH_REASON_NO_REPLY)
                    .setCache(stats(session)).setCreatedAtMs(now).build();
        }
        if (session == null) {
            session = Session.create(id, model.loaded().model().config(), model.policy(), model.precision(), model.fingerprint(),
                    model.profileFingerprint(), settings.blockTokens());
        }
        TurnResult result;
        try {
            result = runner.run(session, role(turn.getRole()), turn.getText(), turn.getReply(), turn.getParams(), settings.defaultReplyTokens(),
                    waiter == null ? text -> {} : waiter::delta);
        } catch (IllegalArgumentException e) { // refused before anything changed
            return error(turn, "INVALID_ARGUMENT", e.getMessage(), session);
        } catch (RuntimeException e) {
            log.error("turn {} of session '{}' failed; the session is reloaded from the store", turn.getTurnId(), id, e);
            sessions.evict(id);
            return error(turn, "INTERNAL", "the turn failed: " + e, null);
        }
        session.recordTurn(turn.getTurnId(), result.text());
        sessions.commit(session, now);
        return ReplyEvent.newBuilder().setSessionId(id).setTurnId(turn.getTurnId()).setText(result.text())
                .setPromptTokens(result.promptTokens()).setCompletionTokens(result.completionTokens()).setFinishReason(result.finishReason())
                .setCache(stats(session)).setCreatedAtMs(now)
                .setPrefillMicros(result.prefillNanos() / 1000).setDecodeMicros(result.decodeNanos() / 1000).build();
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
        long kv = s.cache().bytesInUse(), full = s.cache().fullBytes();
        return CacheStats.newBuilder().setTokens(s.tokens()).setKvBytes(kv).setFullKvBytes(full).setCompressionRatio(kv == 0 ? 1 : full / (double) kv).build();
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
