package io.razorstream.app;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.razorstream.app.config.ServiceConfig;
import io.razorstream.app.stream.RazorTopology;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.store.ReadOnlyStreamsBackend;
import io.razorstream.store.SessionStore;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.state.QueryableStoreTypes;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.stream.Stream;

/** Test helpers: start service instances, talk to them over real gRPC. */
final class Services {
    private Services() {}

    static final String KEY = "K7Q2";

    static RazorService start(Path dataDir, String bootstrap, String appId) throws Exception {
        return start(dataDir, bootstrap, appId, Map.of());
    }

    /** {@code extra}: more settings (they win over the test defaults). */
    static RazorService start(Path dataDir, String bootstrap, String appId, Map<String, String> extra)
            throws Exception {
        RazorService s = startWithoutWaiting(dataDir, bootstrap, appId, extra);
        s.awaitRunning(Duration.ofMinutes(2));
        return s;
    }

    /** Started, but stream processing may still be assigning partitions and restoring stores. */
    static RazorService startWithoutWaiting(Path dataDir, String bootstrap, String appId, Map<String, String> extra)
            throws Exception {
        Map<String, String> flags = new LinkedHashMap<>();
        flags.put("data.dir", dataDir.toString());
        flags.put("grpc.port", "0");
        flags.put("http.port", "0"); // off unless a test asks for it (instances side by side would share 8080)
        flags.put("engine.threads", "2");
        flags.put("application.id", appId);
        flags.put("topic.partitions", "4");
        flags.put("turn.timeout", "PT2M");
        if (bootstrap != null) flags.put("bootstrap.servers", bootstrap);
        flags.putAll(extra);
        return RazorService.start(ServiceConfig.load(null, Map.of(), flags));
    }

    static ManagedChannel channel(RazorService s) {
        return ManagedChannelBuilder.forAddress("localhost", s.grpcPort())
                .usePlaintext()
                .build();
    }

    /** Filler text without the marker character. */
    static String filler(Random r, int chars) {
        String words = "the quick brown fox jumps over a lazy dog and runs far away ";
        StringBuilder sb = new StringBuilder();
        while (sb.length() < chars) sb.append(words, r.nextInt(words.length() / 2), words.length());
        return sb.substring(0, chars);
    }

    record Reply(String streamed, ChatDone done, int deltas) {}

    static Reply chat(
            MemoryServiceGrpc.MemoryServiceBlockingStub stub,
            String session,
            String turnId,
            String text,
            int maxTokens) {
        return chat(
                stub,
                session,
                turnId,
                text,
                GenerationParams.newBuilder().setMaxTokens(maxTokens).build(),
                false);
    }

    /** A chat turn with these params (Chat with regenerate when {@code regenerate}). */
    static Reply chat(
            MemoryServiceGrpc.MemoryServiceBlockingStub stub,
            String session,
            String turnId,
            String text,
            GenerationParams params,
            boolean regenerate) {
        Iterator<ChatResponse> it = stub.chat(ChatRequest.newBuilder()
                .setSessionId(session)
                .setTurnId(turnId)
                .setText(text)
                .setParams(params)
                .setRegenerate(regenerate)
                .build());
        StringBuilder sb = new StringBuilder();
        ChatDone done = null;
        int deltas = 0;
        while (it.hasNext()) {
            ChatResponse r = it.next();
            if (r.hasDelta()) {
                sb.append(r.getDelta());
                deltas++;
            } else {
                done = r.getDone();
            }
        }
        return new Reply(sb.toString(), done, deltas);
    }

    /** The session's cache as the instance's store holds it ({@link SessionStore#contentDigest}), in hex. */
    static String storedDigest(RazorService service, String session) {
        var store = service.streams()
                .store(StoreQueryParameters.fromNameAndType(
                        RazorTopology.STORE, QueryableStoreTypes.<Bytes, byte[]>keyValueStore()));
        return HexFormat.of().formatHex(new SessionStore(new ReadOnlyStreamsBackend(store)).contentDigest(session));
    }

    /** The failure of a call that must fail (an AssertionError if it succeeds). */
    static StatusRuntimeException failure(Supplier<Object> call) {
        try {
            call.get();
        } catch (StatusRuntimeException e) {
            return e;
        }
        throw new AssertionError("the call succeeded");
    }

    static StatusRuntimeException failure(Runnable call) {
        return failure(() -> {
            call.run();
            return null;
        });
    }

    /** Calls until the call succeeds (every 500 ms, for at most 90 s), as a client told to retry does. */
    static <T> T retry(Supplier<T> call) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (true) {
            try {
                return call.get();
            } catch (StatusRuntimeException e) {
                if (System.nanoTime() > deadline) throw e;
                Thread.sleep(500);
            }
        }
    }

    /**
     * Reads {@code topics} from the beginning as a read_committed consumer of group {@code group}, handing each record
     * to {@code done} until it answers true or {@code timeout} has passed; true if it did.
     */
    static boolean consume(
            String bootstrap,
            String group,
            List<String> topics,
            Duration timeout,
            Predicate<ConsumerRecord<String, byte[]>> done) {
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        bootstrap,
                        ConsumerConfig.GROUP_ID_CONFIG,
                        group,
                        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                        "earliest",
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        "read_committed"),
                new StringDeserializer(),
                new ByteArrayDeserializer())) {
            c.subscribe(topics);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(300))) if (done.test(r)) return true;
            }
        }
        return false;
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
