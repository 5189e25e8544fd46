package io.razorstream.app.stream;

import io.razorstream.app.config.ServiceConfig;
import io.razorstream.app.config.ServiceSettings;
import io.razorstream.app.metrics.ServiceMetrics;
import io.razorstream.app.model.ServedModel;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.engine.chat.Conversation;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.store.HotSessions;
import io.razorstream.store.ReadOnlyStreamsBackend;
import io.razorstream.store.SessionStore;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.BiFunction;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The session processor alone (TopologyTestDriver, real RocksDB store, the synthetic model): replies, limits, idle
 * expiry.
 */
class SessionProcessorTest {
    @Test
    void repliesThenExpiresIdleSessions(@TempDir Path dir) throws Exception {
        try (Fixture f = Fixture.open(dir)) {
            HotSessions hot = f.hot();
            try (TopologyTestDriver driver = f.driver(dir, 1000, Duration.ofMinutes(30), Duration.ofMinutes(1))) {
                var in = driver.createInputTopic("turns", new StringSerializer(), new ByteArraySerializer());
                var replies =
                        driver.createOutputTopic("replies", new ByteArrayDeserializer(), new ByteArrayDeserializer());
                var dead = driver.createOutputTopic("dead", new ByteArrayDeserializer(), new ByteArrayDeserializer());
                in.pipeInput(
                        "s1",
                        TurnEvent.newBuilder()
                                .setSessionId("s1")
                                .setTurnId("a")
                                .setText("The code is #K7Q2. the fox. Code #")
                                .setReply(true)
                                .setParams(GenerationParams.newBuilder().setMaxTokens(4))
                                .build()
                                .toByteArray());
                in.pipeInput(
                        "s1",
                        TurnEvent.newBuilder()
                                .setSessionId("s1")
                                .setTurnId("b")
                                .setText("x".repeat(2000))
                                .build()
                                .toByteArray());
                awaitReply(driver, replies);
                ReplyEvent r = ReplyEvent.parseFrom(replies.readValue());
                assertThat(r.getStages().getPrefillMicros())
                        .as("where the turn's time went")
                        .isPositive();
                assertThat(r.getText()).isEqualTo("K7Q2");
                assertThat(r.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_LENGTH);
                assertThat(new String(dead.readRecord()
                                .headers()
                                .lastHeader("razorstream.error")
                                .value()))
                        .contains("the limit is 1000");
                assertThat(replies.isEmpty()).isTrue();

                SessionStore store =
                        new SessionStore(new ReadOnlyStreamsBackend(driver.getKeyValueStore(RazorTopology.STORE)));
                assertThat(store.meta("s1")).isPresent();
                assertThat(hot.contains("s1")).isTrue();
                driver.advanceWallClockTime(Duration.ofMinutes(31));
                assertThat(store.meta("s1")).as("expired after 30 idle minutes").isEmpty();
                assertThat(hot.contains("s1")).isFalse();
            }
        }
    }

    /**
     * Isolation through the service: three sessions' turns run at once, and a fault is injected into one session's
     * cache writes. Only that turn fails (INTERNAL, and its session is as stored before: the half-updated copy is
     * dropped); the other two replies, and what the store holds for them, equal those of the same turns run alone.
     * Whether the fault lands in a pass the others share depends on timing here; that the failure then reaches only its
     * own caller is checked where it can be forced (PassSchedulerTest, BatchedPassTest).
     */
    @Test
    void aFaultInOneSessionOfASharedPassFailsOnlyThatTurn(@TempDir Path dir) throws Exception {
        try (Fixture f = Fixture.open(dir)) {
            HotSessions hot = f.hot();
            try (TopologyTestDriver driver = f.driver(dir, 100_000, Duration.ofDays(1), Duration.ofHours(1))) {
                var in = driver.createInputTopic("turns", new StringSerializer(), new ByteArraySerializer());
                var replies =
                        driver.createOutputTopic("replies", new ByteArrayDeserializer(), new ByteArrayDeserializer());
                String[] first = {
                    "The code is #K7Q2. the quick brown fox. ",
                    "Note #B4X9 now. a lazy dog jumps far. ",
                    "Keep #M3T8 in mind. over the fox. "
                };
                String second = " the quick brown fox jumps over a lazy dog and runs far away. Remember the code #";
                BiFunction<String, String[], TurnEvent> turn = (session, idText) -> TurnEvent.newBuilder()
                        .setSessionId(session)
                        .setTurnId(idText[0])
                        .setText(idText[1])
                        .setReply(true)
                        .setParams(GenerationParams.newBuilder().setMaxTokens(16))
                        .build();
                SessionStore store =
                        new SessionStore(new ReadOnlyStreamsBackend(driver.getKeyValueStore(RazorTopology.STORE)));
                for (int s = 0; s < 3; s++) {
                    in.pipeInput(
                            "s" + s,
                            turn.apply("s" + s, new String[] {"one", first[s]}).toByteArray());
                    awaitReplies(driver, replies, 1);
                }
                byte[] faultyBefore = store.contentDigest("s0");
                int faultFrom =
                        hot.get("s0").cache().size() + 24; // a few tokens into the reply: the others are decoding too
                hot.get("s0").cache().injectFaults((layer, position) -> {
                    if (position >= faultFrom)
                        throw new IllegalStateException("injected fault at position " + position);
                });
                for (int s = 0; s < 3; s++)
                    in.pipeInput(
                            "s" + s,
                            turn.apply("s" + s, new String[] {"two", second}).toByteArray());
                Map<String, ReplyEvent> together = new HashMap<>();
                for (byte[] r : awaitReplies(driver, replies, 3))
                    together.put(ReplyEvent.parseFrom(r).getSessionId(), ReplyEvent.parseFrom(r));

                assertThat(together.get("s0").getErrorCode())
                        .as("the faulty session's turn")
                        .isEqualTo("INTERNAL");
                assertThat(together.get("s0").getError()).contains("injected fault");
                assertThat(store.contentDigest("s0"))
                        .as("the faulty session as stored before its turn")
                        .isEqualTo(faultyBefore);
                assertThat(hot.contains("s0"))
                        .as("its half-updated copy is dropped")
                        .isFalse();
                for (int s = 1; s < 3; s++) {
                    in.pipeInput(
                            "alone" + s,
                            turn.apply("alone" + s, new String[] {"one", first[s]})
                                    .toByteArray());
                    awaitReplies(driver, replies, 1);
                    in.pipeInput(
                            "alone" + s,
                            turn.apply("alone" + s, new String[] {"two", second})
                                    .toByteArray());
                    ReplyEvent alone = ReplyEvent.parseFrom(
                            awaitReplies(driver, replies, 1).get(0));
                    assertThat(together.get("s" + s).getError()).isEmpty();
                    assertThat(together.get("s" + s).getText())
                            .as("session %d's reply beside the fault", s)
                            .isEqualTo(alone.getText())
                            .isNotEmpty();
                    assertThat(store.contentDigest("s" + s))
                            .as("session %d as stored", s)
                            .isEqualTo(store.contentDigest("alone" + s));
                }
                in.pipeInput(
                        "s0", turn.apply("s0", new String[] {"two", second}).toByteArray());
                assertThat(ReplyEvent.parseFrom(awaitReplies(driver, replies, 1).get(0))
                                .getError())
                        .as("the faulty session's turn sent again")
                        .isEmpty();
            }
        }
    }

    /**
     * The synthetic model on two engine threads, eight turn slots and a hot-sessions budget: what a topology under test
     * runs on.
     */
    record Fixture(Parallel parallel, ServedModel model, TurnSlots slots, HotSessions hot) implements AutoCloseable {
        static Fixture open(Path dir) throws Exception {
            ServiceConfig config = ServiceConfig.load(null, Map.of(), Map.of("data.dir", dir.toString()));
            Parallel parallel = new Parallel(2);
            return new Fixture(
                    parallel,
                    ServedModel.open(ServiceSettings.parse(config), parallel),
                    new TurnSlots(8),
                    new HotSessions(1L << 30));
        }

        /**
         * The whole topology over a test driver, its state in {@code dir}: turns of at most {@code maxTextBytes},
         * sessions idle past {@code ttl} expire.
         */
        TopologyTestDriver driver(Path dir, int maxTextBytes, Duration ttl, Duration expiryInterval) {
            Properties props = new Properties();
            props.put(StreamsConfig.APPLICATION_ID_CONFIG, "processor-test");
            props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
            props.put(StreamsConfig.STATE_DIR_CONFIG, dir.resolve("state").toString());
            RazorTopology.Settings settings = new RazorTopology.Settings(
                    "turns", "rerouted", 1, "replies", "dead", 32, maxTextBytes, 64, 8, ttl, expiryInterval, false);
            TurnRunner runner = new TurnRunner(model, parallel, 0, Conversation.Overflow.REFUSE, 0);
            return new TopologyTestDriver(
                    RazorTopology.build(
                            settings,
                            model,
                            runner,
                            slots,
                            hot,
                            new TokenRouter(),
                            new DamagedSessions(),
                            new ServiceMetrics()),
                    props);
        }

        @Override
        public void close() throws Exception {
            slots.close();
            model.close();
            parallel.close();
        }
    }

    /** Waits for {@code n} replies (see {@link #awaitReply}) and reads them. */
    static List<byte[]> awaitReplies(TopologyTestDriver driver, TestOutputTopic<byte[], byte[]> replies, int n)
            throws InterruptedException {
        List<byte[]> out = new ArrayList<>();
        while (out.size() < n) {
            awaitReply(driver, replies);
            out.addAll(replies.readValuesToList());
        }
        assertThat(out).hasSize(n);
        return out;
    }

    /**
     * Turns run on turn threads and are answered from a wall-clock punctuation: the driver's clock is moved on (and
     * real time passes) until a reply is out.
     */
    static void awaitReply(TopologyTestDriver driver, TestOutputTopic<byte[], byte[]> replies)
            throws InterruptedException {
        for (long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos(); replies.isEmpty(); ) {
            assertThat(System.nanoTime()).as("a reply within 60 s").isLessThan(deadline);
            driver.advanceWallClockTime(Duration.ofMillis(5));
            Thread.sleep(2);
        }
    }
}
