package io.razorstream.app.stream;

import com.google.protobuf.InvalidProtocolBufferException;
import io.razorstream.app.model.ServedModel;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.app.turn.TurnValidation;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.app.metrics.ServiceMetrics;
import io.razorstream.store.HotSessions;
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
import java.util.HashSet;
import java.util.Set;

/**
 * The Kafka Streams processor of a partition's sessions: each record is parsed, validated, applied by the
 * {@link TurnPipeline} and its reply emitted (in the partition's order, so per session in order). A malformed
 * record goes to the dead-letter topic with the reason. A session whose stored state fails its checks is
 * quarantined (DATA_LOSS, see {@link DamagedSessions}); every other session goes on. This class owns what is
 * Kafka's: the store, punctuations (idle expiry, rebuilds), dead letters and emitting.
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
    private final ServiceMetrics metrics;
    private final TokenRouter router;
    private final DamagedSessions damaged;
    private ProcessorContext<byte[], byte[]> context;
    private SessionRepository sessions;
    private TurnPipeline pipeline;
    private long rebuildAt = -1;
    /** Damaged sessions of this task found since the last rebuild (their next find before it is not "broken"). */
    private final Set<String> awaitingRebuild = new HashSet<>();

    SessionProcessor(RazorTopology.Settings settings, ServedModel model, TurnRunner runner, HotSessions hot, TokenRouter router,
                     DamagedSessions damaged, ServiceMetrics metrics) {
        this.metrics = metrics;
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
        pipeline = new TurnPipeline(settings, model, runner, sessions, damaged);
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
            if (waiter != null) waiter.done(TurnPipeline.error(turn, "INVALID_ARGUMENT", problem, null));
            return;
        }
        ReplyEvent reply;
        long started = System.nanoTime();
        try {
            reply = pipeline.apply(turn, waiter, context.currentSystemTimeMs());
        } catch (StoreFormatException | ProcessorStateException e) {
            reply = quarantine(record, turn, e);
        }
        long nanos = System.nanoTime() - started;
        metrics.turnProcessed(reply, nanos);
        log.info("{}", settings.jsonTurnLog() ? TurnLog.json(turn, reply, nanos) : TurnLog.text(turn, reply, nanos));
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
        return TurnPipeline.error(turn, "DATA_LOSS", reason, null);
    }

    private void deadLetter(Record<byte[], byte[]> record, String reason) {
        metrics.deadLetter();
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
