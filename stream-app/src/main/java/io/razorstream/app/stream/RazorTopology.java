package io.razorstream.app.stream;

import io.razorstream.app.model.ServedModel;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.store.HotSessions;
import io.razorstream.store.SessionStores;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.Topology;

import java.time.Duration;

/** The whole stream topology in one place: turns -> session processor (+ session store) -> replies | dead letters. */
public final class RazorTopology {
    public static final String STORE = "sessions";
    static final String REPLIES_SINK = "replies", DEAD_LETTER_SINK = "dead-letters";

    public record Settings(String turnsTopic, String repliesTopic, String deadLetterTopic, int blockTokens, int maxTextBytes, int maxReplyTokens,
                           int defaultReplyTokens, Duration ttl, Duration expiryInterval) {}

    private RazorTopology() {}

    public static Topology build(Settings settings, ServedModel model, TurnRunner runner, HotSessions hot, TokenRouter router) {
        Topology t = new Topology();
        t.addSource("turns", new ByteArrayDeserializer(), new ByteArrayDeserializer(), settings.turnsTopic());
        t.addProcessor("sessions", () -> new SessionProcessor(settings, model, runner, hot, router), "turns");
        t.addStateStore(SessionStores.builder(STORE), "sessions");
        t.addSink(REPLIES_SINK, settings.repliesTopic(), new ByteArraySerializer(), new ByteArraySerializer(), "sessions");
        t.addSink(DEAD_LETTER_SINK, settings.deadLetterTopic(), new ByteArraySerializer(), new ByteArraySerializer(), "sessions");
        return t;
    }
}
