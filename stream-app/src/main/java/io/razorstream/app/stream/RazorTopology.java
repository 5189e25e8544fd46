package io.razorstream.app.stream;

import io.razorstream.app.metrics.ServiceMetrics;
import io.razorstream.app.model.ServedModel;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.store.HotSessions;
import io.razorstream.store.SessionStores;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.StreamPartitioner;

import java.time.Duration;
import java.util.Optional;
import java.util.Set;

/**
 * The whole stream topology in one place: turns | rerouted turns -> partition guard -> (misplaced: rerouted turns) |
 * session processor (+ session store, turn inbox) -> replies | dead letters.
 */
public final class RazorTopology {
    public static final String STORE = "sessions";
    static final String SESSIONS = "sessions",
            REPLIES_SINK = "replies",
            DEAD_LETTER_SINK = "dead-letters",
            REROUTE_SINK = "reroute";

    /** {@code turnPartitions}: partitions of the turns topic (and of the reroute topic). */
    public record Settings(
            String turnsTopic,
            String reroutedTopic,
            int turnPartitions,
            String repliesTopic,
            String deadLetterTopic,
            int blockTokens,
            int maxTextBytes,
            int maxReplyTokens,
            int defaultReplyTokens,
            Duration ttl,
            Duration expiryInterval,
            boolean jsonTurnLog) {}

    private RazorTopology() {}

    public static Topology build(
            Settings settings,
            ServedModel model,
            TurnRunner runner,
            TurnSlots slots,
            HotSessions hot,
            TokenRouter router,
            DamagedSessions damaged,
            ServiceMetrics metrics) {
        Topology t = new Topology();
        t.addSource("turns", new ByteArrayDeserializer(), new ByteArrayDeserializer(), settings.turnsTopic());
        t.addSource("rerouted", new ByteArrayDeserializer(), new ByteArrayDeserializer(), settings.reroutedTopic());
        t.addProcessor("partition-guard", () -> new PartitionGuard(settings.turnPartitions()), "turns", "rerouted");
        StreamPartitioner<byte[], byte[]> byKey =
                (topic, key, value, n) -> Optional.of(Set.of(PartitionGuard.partitionOf(key, n)));
        t.addSink(
                REROUTE_SINK,
                settings.reroutedTopic(),
                new ByteArraySerializer(),
                new ByteArraySerializer(),
                byKey,
                "partition-guard");
        t.addProcessor(
                SESSIONS,
                () -> new SessionProcessor(settings, model, runner, slots, hot, router, damaged, metrics),
                "partition-guard");
        t.addStateStore(SessionStores.builder(STORE), SESSIONS);
        t.addStateStore(TurnInbox.builder(), SESSIONS);
        t.addSink(
                REPLIES_SINK, settings.repliesTopic(), new ByteArraySerializer(), new ByteArraySerializer(), SESSIONS);
        t.addSink(
                DEAD_LETTER_SINK,
                settings.deadLetterTopic(),
                new ByteArraySerializer(),
                new ByteArraySerializer(),
                SESSIONS);
        return t;
    }
}
