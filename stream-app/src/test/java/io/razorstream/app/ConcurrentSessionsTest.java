package io.razorstream.app;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.razorstream.app.config.ServiceConfig;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.AppendTurnsResponse;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.ReplyEvent;
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
import java.util.HashMap;
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
        // The test helper's own partition count is put back to the service's default; every other setting that matters
        // here is the default.
        assertThat(ServiceConfig.load(null, Map.of(), Map.of()).get("topic.partitions"))
                .isEqualTo(String.valueOf(PARTITIONS));
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
        return new String[] {
            "t" + turn,
            "Session " + session + " says #" + (char) ('A' + session % 26) + (char) ('K' + turn) + ". "
                    + Services.filler(r, 60 + 10 * session)
        };
    }

    /**
     * 32 sessions (four to a partition) send two turns each, all at once; every greedy reply equals the reply the same
     * turns get in a session that runs alone. Tolerance: none - the native kernel tier computes each row of a batched
     * pass exactly as alone (the Java tier's batched GEMM may round differently; this service runs the default,
     * native).
     */
    @Test
    void thirtyTwoSessionsAtOnceReplyAsEachAlone() throws Exception {
        List<String> concurrent = new ArrayList<>(), alone = new ArrayList<>();
        for (int s = 0; s < SESSIONS; s++) {
            concurrent.add("together-" + s);
            alone.add("alone-" + s);
        }
        assertThat(concurrent.stream()
                        .map(ConcurrentSessionsTest::partition)
                        .distinct()
                        .count())
                .as("sessions share partitions")
                .isLessThan(SESSIONS);
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
                for (int s = 0; s < SESSIONS; s++)
                    together.get(s).add(replies.get(s).get(5, TimeUnit.MINUTES));
            }
        } finally {
            pool.shutdownNow();
        }
        Set<String> distinct = new HashSet<>();
        for (int s = 0; s < SESSIONS; s++) {
            for (int turn = 0; turn < 2; turn++) {
                String[] tt = turn(s, turn);
                String reply =
                        Services.chat(stub, alone.get(s), tt[0], tt[1], 12).streamed();
                assertThat(together.get(s).get(turn))
                        .as("session %d turn %d", s, turn)
                        .isEqualTo(reply);
                distinct.add(reply);
            }
        }
        assertThat(distinct)
                .as("the turns are different enough to get different replies")
                .hasSizeGreaterThan(SESSIONS / 2);
    }

    /**
     * Session A imports a long document (one AppendTurns of 24 turns, thousands of tokens); session B, on the same
     * partition, sends a short turn after A's record is in the log. B's first token comes before A's import finishes:
     * ordering, not timing (were the partition's records run one after another, B could not start before A ended).
     */
    @Test
    void aShortTurnIsNotStuckBehindALongImportOnTheSamePartition() throws Exception {
        String longSession = "document-0", shortSession = null;
        for (int i = 0; shortSession == null; i++)
            if (partition("quick-" + i) == partition(longSession)) shortSession = "quick-" + i;
        TopicPartition tp = new TopicPartition("razorstream.turns", partition(longSession));
        long before = endOffset(tp);

        AppendTurnsRequest.Builder append = AppendTurnsRequest.newBuilder().setSessionId(longSession);
        Random r = new Random(5);
        for (int i = 0; i < 24; i++)
            append.addTurns(Turn.newBuilder()
                    .setRole(Role.ROLE_USER)
                    .setTurnId("doc-" + i)
                    .setText(Services.filler(r, 600)));
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
        for (long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                endOffset(tp) == before;
                Thread.sleep(5)) {
            assertThat(System.nanoTime()).as("A's import reaches the log").isLessThan(deadline);
        }
        var chat = stub.chat(ChatRequest.newBuilder()
                .setSessionId(shortSession)
                .setTurnId("q1")
                .setText("Quick question. ")
                .setParams(GenerationParams.newBuilder().setMaxTokens(4))
                .build());
        long firstToken = 0;
        while (chat.hasNext()) {
            ChatResponse next = chat.next();
            if (next.hasDelta() && firstToken == 0) firstToken = System.nanoTime();
        }
        assertThat(firstToken).as("the short turn streamed a token").isNotZero();
        assertThat(imported.isDone())
                .as("A's import was still running when B's reply ended")
                .isFalse();
        long done = imported.get(5, TimeUnit.MINUTES);
        System.out.printf(
                "a 24-turn import took %.1f s; a short turn on the same "
                        + "partition, sent after it, had its first token after %.2f s%n",
                (done - sent) / 1e9, (firstToken - sent) / 1e9);
        assertThat(firstToken)
                .as("the short turn's first token came before the import finished")
                .isLessThan(done);
    }

    /**
     * Exactly once with many turns in flight: 16 sessions' turns are accepted and running when the service shuts down;
     * after the restart (same data dir) the turns left in the inbox run again, and the clients resend them under the
     * same turn ids. Every turn is applied once: the replies topic holds one applied reply per turn, and each session
     * then equals a reference session that got the same turns without a restart.
     */
    @Test
    void turnsInFlightAtARestartAreAppliedExactlyOnce() throws Exception {
        int n = 16;
        Random r = new Random(9);
        String[] first = new String[n], second = new String[n];
        for (int s = 0; s < n; s++) {
            first[s] =
                    "In flight " + s + ": the code is #" + (char) ('A' + s) + "7Q. " + Services.filler(r, 300 + 20 * s);
            second[s] = " Again, the code is #";
        }
        long before = totalEndOffset();
        MemoryServiceGrpc.MemoryServiceStub async = MemoryServiceGrpc.newStub(channel);
        for (int s = 0; s < n; s++) {
            async.chat(
                    ChatRequest.newBuilder()
                            .setSessionId("inflight-" + s)
                            .setTurnId("t0")
                            .setText(first[s])
                            .setParams(GenerationParams.newBuilder().setMaxTokens(24))
                            .build(),
                    new StreamObserver<>() {
                        @Override
                        public void onNext(ChatResponse value) {}

                        @Override
                        public void onError(Throwable t) {} // the service goes away under it

                        @Override
                        public void onCompleted() {}
                    });
        }
        for (long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                totalEndOffset() < before + n;
                Thread.sleep(10)) {
            assertThat(System.nanoTime()).as("the %d turns reach the log", n).isLessThan(deadline);
        }
        Thread.sleep(300); // accepted, and most of them running
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        service.close();
        service = Services.start(dataDir, null, "razorstream", Map.of("topic.partitions", String.valueOf(PARTITIONS)));
        channel = Services.channel(service);
        stub = MemoryServiceGrpc.newBlockingStub(channel);

        // Nobody resends yet: the turns accepted before the shutdown run from the inbox on their own (a Kafka-only
        // agent never resends).
        for (int s = 0; s < n; s++) {
            String session = "inflight-" + s;
            for (long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
                    !applied(session, "t0");
                    Thread.sleep(100)) {
                assertThat(System.nanoTime())
                        .as("%s's turn t0 applied after the restart without a resend", session)
                        .isLessThan(deadline);
            }
        }
        for (int s = 0; s < n; s++) {
            String[] replies = new String[2], reference = new String[2];
            replies[0] =
                    Services.chat(stub, "inflight-" + s, "t0", first[s], 24).streamed();
            replies[1] =
                    Services.chat(stub, "inflight-" + s, "t1", second[s], 6).streamed();
            reference[0] =
                    Services.chat(stub, "reference-" + s, "t0", first[s], 24).streamed();
            reference[1] =
                    Services.chat(stub, "reference-" + s, "t1", second[s], 6).streamed();
            assertThat(replies).as("session %d's replies", s).containsExactly(reference);
            assertThat(Services.storedDigest(service, "inflight-" + s))
                    .as("session %d as stored", s)
                    .isEqualTo(Services.storedDigest(service, "reference-" + s));
        }
        Map<String, Integer> applied = new HashMap<>();
        Services.consume(
                service.bootstrapServers(),
                "count-" + System.nanoTime(),
                List.of("razorstream.replies"),
                Duration.ofSeconds(10),
                rec -> {
                    try {
                        var reply = ReplyEvent.parseFrom(rec.value());
                        if (reply.getSessionId().startsWith("inflight-")
                                && reply.getError().isEmpty()
                                && !reply.getDuplicate()) {
                            applied.merge(reply.getSessionId() + "/" + reply.getTurnId(), 1, Integer::sum);
                        }
                    } catch (InvalidProtocolBufferException e) {
                        throw new AssertionError(e);
                    }
                    return false; // read everything there is within the wait
                });
        assertThat(applied)
                .as("applied replies per turn on the replies topic")
                .hasSize(2 * n)
                .allSatisfy((turn, count) -> assertThat(count).as(turn).isEqualTo(1));
    }

    /** Whether the session exists and its last turn is {@code turnId}. */
    private static boolean applied(String session, String turnId) {
        try {
            var info = stub.getSession(GetSessionRequest.newBuilder()
                    .setSessionId(session)
                    .setIncludeRecentTurns(true)
                    .build());
            return info.getRecentTurnsCount() > 0
                    && info.getRecentTurns(0).getTurnId().equals(turnId);
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) return false;
            throw e;
        }
    }

    private static long totalEndOffset() {
        List<TopicPartition> all = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) all.add(new TopicPartition("razorstream.turns", p));
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
                Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, service.bootstrapServers()),
                new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            return c.endOffsets(all).values().stream()
                    .mapToLong(Long::longValue)
                    .sum();
        }
    }

    private static long endOffset(TopicPartition tp) {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
                Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, service.bootstrapServers()),
                new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            return c.endOffsets(List.of(tp)).get(tp);
        }
    }
}
