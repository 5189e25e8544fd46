package io.razorstream.store;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.kernel.Parallel;
import org.apache.kafka.common.serialization.IntegerDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Turns run through a Kafka Streams processor whose session caches live in the session store (RocksDB, changelogged).
 */
class StreamsProcessorTest {
    static final String STORE = "sessions";

    /** Appends each turn's text to its session (key = session id) and emits the session's token count. */
    static final class TurnProcessor implements Processor<String, String, String, Integer> {
        private final Parallel parallel;
        private ProcessorContext<String, Integer> context;
        private SessionRepository sessions;

        TurnProcessor(Parallel parallel) {
            this.parallel = parallel;
        }

        @Override
        public void init(ProcessorContext<String, Integer> context) {
            this.context = context;
            KeyValueStore<Bytes, byte[]> store = context.getStateStore(STORE);
            LoadedModel m = SynthSessions.model();
            sessions = new SessionRepository(
                    new SessionStore(new StreamsStoreBackend(store)),
                    new HotSessions(64L << 20),
                    m.model().config(),
                    m.gguf().fingerprint());
        }

        @Override
        public void process(Record<String, String> turn) {
            LoadedModel m = SynthSessions.model();
            Session s = sessions.find(turn.key())
                    .orElseGet(() -> Session.create(
                            turn.key(),
                            m.model().config(),
                            SynthSessions.razor(),
                            KvPrecision.F16,
                            m.gguf().fingerprint(),
                            "synth",
                            32));
            SynthSessions.turn(s, turn.value(), 64, 2, parallel);
            sessions.commit(s, turn.timestamp());
            context.forward(new Record<>(turn.key(), s.tokens(), turn.timestamp()));
        }
    }

    @Test
    void turnsUpdateTheStoredSessions(@TempDir Path dir) {
        try (Parallel parallel = new Parallel(1)) {
            Topology topology = new Topology();
            topology.addSource("turns", new StringDeserializer(), new StringDeserializer(), "turns");
            topology.addProcessor("session", () -> new TurnProcessor(parallel), "turns");
            topology.addStateStore(SessionStores.builder(STORE), "session");
            topology.addSink(
                    "replies",
                    "replies",
                    new StringSerializer(),
                    Serdes.Integer().serializer(),
                    "session");
            Properties props = new Properties();
            props.put(StreamsConfig.APPLICATION_ID_CONFIG, "store-test");
            props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
            props.put(StreamsConfig.STATE_DIR_CONFIG, dir.toString());
            SessionStores.withRocksConfig(props);
            String[] texts = {
                "The code is #K7Q2. the quick brown fox ", "jumps over a lazy dog ".repeat(8), " Remember the code #"
            };
            try (TopologyTestDriver driver = new TopologyTestDriver(topology, props)) {
                var in = driver.createInputTopic("turns", new StringSerializer(), new StringSerializer());
                var out = driver.createOutputTopic("replies", new StringDeserializer(), new IntegerDeserializer());
                for (String t : texts) {
                    in.pipeInput("alice", t, 1000);
                    in.pipeInput("bob", t.toUpperCase(), 2000);
                }
                Map<String, Integer> counts = out.readKeyValuesToMap();

                // The same turns run directly give the same caches as the stored ones.
                LoadedModel m = SynthSessions.model();
                KeyValueStore<Bytes, byte[]> kv = driver.getKeyValueStore(STORE);
                SessionStore store = new SessionStore(new StreamsStoreBackend(kv));
                for (String who : new String[] {"alice", "bob"}) {
                    Session direct = Session.create(
                            who,
                            m.model().config(),
                            SynthSessions.razor(),
                            KvPrecision.F16,
                            m.gguf().fingerprint(),
                            "synth",
                            32);
                    for (String t : texts)
                        SynthSessions.turn(direct, who.equals("bob") ? t.toUpperCase() : t, 64, 2, parallel);
                    Session stored = store.load(
                                    who, m.model().config(), m.gguf().fingerprint())
                            .orElseThrow();
                    assertThat(counts.get(who)).isEqualTo(direct.tokens());
                    Caches.assertSameContents(direct.cache(), stored.cache());
                    assertThat(stored.conversation().pendingTokens())
                            .isEqualTo(direct.conversation().pendingTokens());
                    assertThat(store.meta(who).orElseThrow().lastActivityMillis())
                            .isEqualTo(who.equals("alice") ? 1000 : 2000);
                }
                assertThat(store.list(null, 10))
                        .extracting(SessionMeta::sessionId)
                        .containsExactly("bob", "alice"); // by id length, then bytes
            }
        }
    }
}
