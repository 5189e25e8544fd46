package io.razorstream.app.stream;

import com.google.protobuf.InvalidProtocolBufferException;
import io.razorstream.app.metrics.ServiceMetrics;
import io.razorstream.app.model.ServedModel;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.app.turn.TurnValidation;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.proto.v1.TurnStages;
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
import java.util.List;
import java.util.Set;

/**
 * The Kafka Streams processor of a partition's sessions. A record is parsed and validated (a malformed one goes to the
 * dead-letter topic with the reason), written to the task's {@link TurnInbox}, and the processor returns: the turn
 * itself starts as soon as its session has no turn under way and a turn slot is free ({@link TurnSlots}), its engine
 * work on a turn thread, so that the turns of many sessions - wherever their partitions are - share the engine's
 * forward passes, and no session waits behind another's long turn. The stream thread takes the finished turns back
 * (here and in a punctuation every few milliseconds), writes the session to the store, emits the reply and removes the
 * inbox entry, in one Kafka transaction: each session's turns apply in order and exactly once.
 *
 * <p>A session whose stored state fails its checks is quarantined (DATA_LOSS, see {@link DamagedSessions}); every other
 * session goes on. This class owns what is Kafka's: the stores, punctuations (idle expiry, rebuilds, taking finished
 * turns), dead letters and emitting.
 */
final class SessionProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    private static final Logger log = LoggerFactory.getLogger(SessionProcessor.class);
    static final String ERROR_HEADER = "razorstream.error";
    /** How long after finding damage the task is rebuilt: the DATA_LOSS reply is committed first. */
    private static final Duration REBUILD_DELAY = Duration.ofMillis(500);
    /** How often finished turns are taken back when no record arrives. */
    private static final Duration TAKE_FINISHED = Duration.ofMillis(5);
    /**
     * Accepted turns a task holds before {@link #process} waits for some to finish (back-pressure on the partition: its
     * records stay in Kafka meanwhile).
     */
    static final int MAX_WAITING = 1024;

    private final RazorTopology.Settings settings;
    private final ServedModel model;
    private final TurnRunner runner;
    private final TurnSlots slots;
    private final HotSessions hot;
    private final ServiceMetrics metrics;
    private final TokenRouter router;
    private final DamagedSessions damaged;
    private TurnQueue queue;
    /** Set when the task closes: its turns under way stop at their next chunk or token. */
    private volatile boolean closing;

    private ProcessorContext<byte[], byte[]> context;
    private SessionRepository sessions;
    private TurnPipeline pipeline;
    private TurnInbox inbox;
    private long rebuildAt = -1;
    /** Damaged sessions of this task found since the last rebuild (their next find before it is not "broken"). */
    private final Set<String> awaitingRebuild = new HashSet<>();

    SessionProcessor(
            RazorTopology.Settings settings,
            ServedModel model,
            TurnRunner runner,
            TurnSlots slots,
            HotSessions hot,
            TokenRouter router,
            DamagedSessions damaged,
            ServiceMetrics metrics) {
        this.metrics = metrics;
        this.settings = settings;
        this.model = model;
        this.runner = runner;
        this.slots = slots;
        this.hot = hot;
        this.router = router;
        this.damaged = damaged;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
        closing = false; // init runs again on the same processor when a corrupt task is revived
        queue = new TurnQueue();
        KeyValueStore<Bytes, byte[]> store = context.getStateStore(RazorTopology.STORE);
        sessions = new SessionRepository(
                new SessionStore(new StreamsStoreBackend(store)),
                hot,
                model.loaded().model().config(),
                model.fingerprint());
        pipeline = new TurnPipeline(settings, model, runner, sessions, damaged);
        inbox = new TurnInbox(context.getStateStore(TurnInbox.STORE));
        long now = System.nanoTime(), wall = context.currentSystemTimeMs();
        List<TurnInbox.Entry> left = inbox.recover();
        for (TurnInbox.Entry e : left) queue.add(new TurnQueue.Accepted(e, parse(e.record()), now, wall));
        if (!left.isEmpty())
            log.info(
                    "task {}: {} accepted turns had no reply yet (a restart or a moved partition); running them now",
                    context.taskId(),
                    left.size());
        context.schedule(settings.expiryInterval(), PunctuationType.WALL_CLOCK_TIME, t -> {
            for (String id : sessions.expireIdle(t, settings.ttl(), queue::inUse)) {
                log.info("session '{}' expired after {} idle", id, settings.ttl());
            }
        });
        context.schedule(REBUILD_DELAY, PunctuationType.WALL_CLOCK_TIME, this::maybeRebuild);
        context.schedule(TAKE_FINISHED, PunctuationType.WALL_CLOCK_TIME, t -> pump());
    }

    /**
     * Damage was found in this task's store: once the DATA_LOSS reply has been committed, Kafka Streams is told the
     * task is corrupt, and it wipes the task's local store and restores it from the changelog. Only from a punctuation,
     * with no record in flight (thrown while processing a record, the revived task was seen to stop taking records).
     */
    private void maybeRebuild(long now) {
        if (rebuildAt < 0 || now < rebuildAt) return;
        rebuildAt = -1;
        awaitingRebuild.forEach(damaged::rebuilt);
        awaitingRebuild.clear();
        log.warn("task {}: rebuilding the session store from its changelog", context.taskId());
        stopTurns();
        throw new TaskCorruptedException(Set.of(context.taskId()));
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        TurnEvent turn;
        try {
            if (record.value() == null) throw new InvalidProtocolBufferException("empty record");
            turn = TurnEvent.parseFrom(record.value());
        } catch (InvalidProtocolBufferException e) {
            deadLetter(record, "not a razorstream.v1.TurnEvent: " + e.getMessage(), source());
            return;
        }
        String key = record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8);
        String problem = TurnValidation.problem(turn, settings.maxTextBytes(), settings.maxReplyTokens());
        if (problem == null && !turn.getSessionId().equals(key)) {
            problem = "the record key (" + key + ") must be the session id (" + turn.getSessionId() + ")";
        }
        if (problem != null) {
            deadLetter(record, problem, source());
            TokenRouter.Waiter waiter = router.waiter(turn.getSessionId(), turn.getTurnId());
            if (waiter != null) waiter.done(TurnPipeline.error(turn, "INVALID_ARGUMENT", problem, null));
            return;
        }
        queue.add(new TurnQueue.Accepted(
                inbox.add(record, source()), turn, System.nanoTime(), context.currentSystemTimeMs()));
        pump();
        try {
            // Back-pressure: past MAX_WAITING, wait for this task's own turns (another task's would need this thread).
            while (queue.waitingCount() > MAX_WAITING && queue.runningCount() > 0) {
                TurnQueue.Running r = queue.takeFinished(50);
                if (r != null) answer(r);
                pump();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Answers the turns whose engine work is over, then starts what can start. Stream thread only. */
    private void pump() {
        try {
            for (TurnQueue.Running r; (r = queue.takeFinished(0)) != null; ) answer(r);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        while (slots.tryTake()) {
            TurnQueue.Accepted a = queue.nextReady();
            if (a == null) {
                slots.giveBack();
                return;
            }
            start(a);
        }
    }

    /**
     * Starts an accepted turn under a slot already taken: answered here, or its engine work handed to a turn thread.
     */
    private void start(TurnQueue.Accepted a) {
        TokenRouter.Waiter waiter = router.waiter(a.session(), a.turn().getTurnId());
        long started = System.nanoTime();
        TurnPipeline.Step step;
        try {
            step = pipeline.begin(a.turn(), waiter, context.currentSystemTimeMs());
        } catch (StoreFormatException | ProcessorStateException e) {
            slots.giveBack();
            emit(a, quarantine(a, e), null, started);
            return;
        } catch (RuntimeException | Error e) { // not the turn's fault: Streams' handler decides (ThreadFailures)
            slots.giveBack();
            throw e;
        }
        if (step instanceof TurnPipeline.Answered answered) {
            slots.giveBack();
            emit(a, answered.reply(), null, started);
            return;
        }
        TurnQueue.Running r = new TurnQueue.Running(a, (TurnPipeline.EngineTurn) step, started);
        queue.started();
        slots.run(() -> {
            try {
                pipeline.run(r.work, waiter, () -> closing);
            } finally {
                queue.finished(r);
            }
        });
    }

    /** A turn's engine work is over: its session written (or dropped) and its reply emitted. Stream thread only. */
    private void answer(TurnQueue.Running r) {
        if (closing) return; // the task is going: the turn stays in the inbox and runs again where the partition goes
        long taken = System.nanoTime();
        ReplyEvent reply;
        try {
            reply = pipeline.finish(r.work, context.currentSystemTimeMs());
        } catch (StoreFormatException | ProcessorStateException e) {
            reply = quarantine(r.accepted, e);
        }
        emit(r.accepted, reply, r, taken);
    }

    /**
     * Emits a turn's reply (with where its time went) and removes it from the inbox, in the transaction that also holds
     * the session's write; its session may start its next turn. {@code taken}: when the stream thread took the finished
     * turn (or started an answered one).
     */
    private void emit(TurnQueue.Accepted a, ReplyEvent reply, TurnQueue.Running r, long taken) {
        long now = System.nanoTime();
        TurnStages.Builder stages = TurnStages.newBuilder()
                .setQueuedMicros(
                        Math.max(0, a.receivedMillis() - a.entry().record().timestamp()) * 1000)
                .setWaitedMicros(((r == null ? taken : r.startedNanos) - a.receivedNanos()) / 1000);
        if (r != null) {
            stages.setLoadMicros(r.work.loadNanos / 1000)
                    .setPrefillMicros(r.work.prefillNanos() / 1000)
                    .setDecodeMicros(r.work.decodeNanos() / 1000)
                    .setHandoffMicros((taken - r.engineDoneNanos) / 1000)
                    .setStoreMicros((now - taken) / 1000);
        }
        reply = reply.toBuilder()
                .setStages(stages)
                .setCreatedAtMs(context.currentSystemTimeMs())
                .build();
        long nanos = now - a.receivedNanos();
        metrics.turnProcessed(reply, nanos);
        log.info(
                "{}",
                settings.jsonTurnLog() ? TurnLog.json(a.turn(), reply, nanos) : TurnLog.text(a.turn(), reply, nanos));
        // A waiting call is completed by CommittedReplies once this reply is committed, not here.
        Record<byte[], byte[]> record = a.entry().record();
        context.forward(
                new Record<>(record.key(), reply.toByteArray(), record.timestamp()), RazorTopology.REPLIES_SINK);
        inbox.remove(a.entry());
        queue.answered(a.session());
    }

    /** The session's stored state failed its checks: refuse the turn with DATA_LOSS and rebuild or mark it broken. */
    private ReplyEvent quarantine(TurnQueue.Accepted a, RuntimeException e) {
        TurnEvent turn = a.turn();
        String id = turn.getSessionId();
        sessions.evict(id);
        String damage = e.getMessage() == null ? e.toString() : e.getMessage();
        if (!damage.contains("'" + id + "'")) damage = "session '" + id + "': " + damage;
        String reason;
        if (!damaged.wasRebuilt(id)) {
            reason = damage
                    + "; the session's partition is being rebuilt from its changelog, send the turn again shortly";
            if (awaitingRebuild.add(id) && rebuildAt < 0) {
                rebuildAt = context.currentSystemTimeMs() + REBUILD_DELAY.toMillis();
                context.commit();
            }
        } else {
            damaged.broke(id, damage);
            reason = damage + "; the changelog holds the damage too: the session stays broken until it is deleted";
        }
        log.error("turn {} refused: {}", turn.getTurnId(), reason, e);
        deadLetter(a.entry().record(), reason, a.entry().source());
        return TurnPipeline.error(turn, "DATA_LOSS", reason, null);
    }

    /** Where the record being processed came from: topic/partition@offset. */
    private String source() {
        return context.recordMetadata()
                .map(m -> m.topic() + "/" + m.partition() + "@" + m.offset())
                .orElse("");
    }

    private static TurnEvent parse(Record<byte[], byte[]> record) {
        try {
            return TurnEvent.parseFrom(record.value());
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(
                    "a turn in the inbox no longer parses: " + e.getMessage(), e); // it was checked when accepted
        }
    }

    private void deadLetter(Record<byte[], byte[]> record, String reason, String source) {
        metrics.deadLetter();
        RecordHeaders headers = new RecordHeaders(record.headers().toArray());
        headers.add(ERROR_HEADER, reason.getBytes(StandardCharsets.UTF_8));
        if (!source.isEmpty()) headers.add("razorstream.source", source.getBytes(StandardCharsets.UTF_8));
        context.forward(
                new Record<>(record.key(), record.value(), record.timestamp(), headers),
                RazorTopology.DEAD_LETTER_SINK);
        log.warn("dead-lettered a record: {}", reason);
    }

    /**
     * Stops this task's turns under way and waits for their threads; their sessions' in-memory copies, ahead of the
     * store, are dropped. Their inbox entries stay: the turns run again when the task does (here or elsewhere).
     */
    private void stopTurns() {
        closing = true;
        try {
            while (queue.runningCount() > 0) queue.takeFinished(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        sessions.releaseAll();
    }

    @Override
    public void close() {
        // The partition may move to another instance: its sessions' in-memory copies would go stale.
        stopTurns();
    }
}
