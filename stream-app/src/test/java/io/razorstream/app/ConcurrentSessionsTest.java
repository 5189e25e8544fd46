package io.razorstream.app;

import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import io.razorstream.app.config.ServiceConfig;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.AppendTurnsResponse;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.Role;
import io.razorstream.proto.v1.Turn;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Many sessions at once, on the default settings (8 partitions, 2 stream threads, 64 turns in flight): turns of
 * sessions that share a partition run at the same time, sharing the engine's forward passes, each session's in order.
 */
class ConcurrentSessionsTest {
    static final int SESSIONS = 32;
    static final int PARTITIONS = 8; // the default of topic.partitions (checked in start)
    @TempDir
    static Path dataDir;
    static RazorService service;
    static ManagedChannel channel;
    static MemoryServiceGrpc.MemoryServiceBlockingStub stub;

    @BeforeAll
    static void start() throws Exception {
        // The test helper's own partition count is put back to the service's default; every other setting that matters here is the default.
        assertThat(ServiceConfig.load(null, Map.of(), Map.of()).get("topic.partitions")).isEqualTo(String.valueOf(PARTITIONS));
        service = Services.start(dataDir, null, "razorstream", Map.of("topic.partitions", String.valueOf(PARTITIONS)));
        channel = Services.channel(service);
        stub = MemoryServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() throws Exception {
        if (channel != null) channel.shutdownNow();
        if (service != null) service.close();
    }

    /** The partition the Java producer's default partitioner gives a session id (murmur2 of the key). */
    static int partition(String sessionId) {
        return Utils.toPositive(Utils.murmur2(sessionId.getBytes(StandardCharsets.UTF_8))) % PARTITIONS;
    }

    static String[] turn(int session, int turn) {
        Random r = new Random(31L * session + turn);
        return new String[] {"t" + turn, "Session " + session + " says #" + (char) ('A' + session % 26) + (char) ('K' + turn) + ". "
                + Services.filler(r, 60 + 10 * session)};
    }

    /**
     * 32 sessions (four to a partition) send two turns each, all at once; every greedy reply equals the reply the same
     * turns get in a session that runs alone. Tolerance: none - the native kernel tier computes each row of a batched
     * pass exactly as alone (the Java tier's batched GEMM may round differently; this service runs the default, native).
     */
    @Test
    void thirtyTwoSessionsAtOnceReplyAsEachAlone() throws Exception {
        List<String> concurrent = new ArrayList<>(), alone = new ArrayList<>();
        for (int s = 0; s < SESSIONS; s++) {
            concurrent.add("together-" + s);
            alone.add("alone-" + s);
        }
        assertThat(concurrent.stream().map(ConcurrentSessionsTest::partition).distinct().count()).as("sessions share partitions").isLessThan(SESSIONS);
        List<List<String>> together = new ArrayList<>();
        for (int s = 0; s < SESSIONS; s++) together.add(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(SESSIONS);
        try {
            for (int turn = 0; turn < 2; turn++) {
                List<Future<String>> replies = new ArrayList<>();
                for (int s = 0; s < SESSIONS; s++) {
                    int session = s, t = turn;
                    replies.add(pool.submit(() -> {
                        String[] tt = turn(session, t);
                        Services.Reply reply = Services.chat(stub, concurrent.get(session), tt[0], tt[1], 12);
                        assertThat(reply.done()).isNotNull();
                        return reply.streamed();
                    }));
                }
                for (int s = 0; s < SESSIONS; s++) together.get(s).add(replies.get(s).get(5, TimeUnit.MINUTES));
            }
        } finally {
            pool.shutdownNow();
        }
        Set<String> distinct = new HashSet<>();
        for (int s = 0; s < SESSIONS; s++) {
            for (int turn = 0; turn < 2; turn++) {
                String[] tt = turn(s, turn);
                String reply = Services.chat(stub, alone.get(s), tt[0], tt[1], 12).streamed();
                assertThat(together.get(s).get(turn)).as("session %d turn %d", s, turn).isEqualTo(reply);
                distinct.add(reply);
            }
        }
        assertThat(distinct).as("the turns are different enough to get different replies").hasSizeGreaterThan(SESSIONS / 2);
    }

    /**
     * Session A imports a long document (one AppendTurns of 24 turns, thousands of tokens); session B, on the same
     * partition, sends a short turn after A's record is in the log. B's first token comes before A's import finishes:
     * ordering, not timing (were the partition's records run one after another, B could not start before A ended).
     */
    @Test
    void aShortTurnIsNotStuckBehindALongImportOnTheSamePartition() throws Exception {
        String longSession = "document-0", shortSession = null;
        for (int i = 0; shortSession == null; i++) if (partition("quick-" + i) == partition(longSession)) shortSession = "quick-" + i;
        TopicPartition tp = new TopicPartition("razorstream.turns", partition(longSession));
        long before = endOffset(tp);

        AppendTurnsRequest.Builder append = AppendTurnsRequest.newBuilder().setSessionId(longSession);
        Random r = new Random(5);
        for (int i = 0; i < 24; i++) append.addTurns(Turn.newBuilder().setRole(Role.ROLE_USER).setTurnId("doc-" + i).setText(Services.filler(r, 600)));
        CompletableFuture<Long> imported = new CompletableFuture<>();
        long sent = System.nanoTime();
        MemoryServiceGrpc.newStub(channel).appendTurns(append.build(), new StreamObserver<>() {
            @Override
            public void onNext(AppendTurnsResponse value) {}

            @Override
            public void onError(Throwable t) {
                imported.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                imported.complete(System.nanoTime());
            }
        });
        for (long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos(); endOffset(tp) == before; Thread.sleep(5)) {
            assertThat(System.nanoTime()).as("A's import reaches the log").isLessThan(deadline);
        }
        var chat = stub.chat(ChatRequest.newBuilder().setSessionId(shortSession).setTurnId("q1").setText("Quick question. ")
                .setParams(GenerationParams.newBuilder().setMaxTokens(4)).build());
        long firstToken = 0;
        while (chat.hasNext()) {
            ChatResponse next = chat.next();
            if (next.hasDelta() && firstToken == 0) firstToken = System.nanoTime();
        }
        assertThat(firstToken).as("the short turn streamed a token").isNotZero();
        assertThat(imported.isDone()).as("A's import was still running when B's reply ended").isFalse();
        long done = imported.get(5, TimeUnit.MINUTES);
        System.out.printf("a 24-turn import took %.1f s; a short turn on the same partition, sent after it, had its first token after %.2f s%n",
                (done - sent) / 1e9, (firstToken - sent) / 1e9);
        assertThat(firstToken).as("the short turn's first token came before the import finished").isLessThan(done);
    }

    private static long endOffset(TopicPartition tp) {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, service.bootstrapServers()),
                new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            return c.endOffsets(List.of(tp)).get(tp);
        }
    }
}
