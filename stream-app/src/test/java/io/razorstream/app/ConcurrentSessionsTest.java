package io.razorstream.app;

import io.grpc.ManagedChannel;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.ThreadMetadata;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Many sessions at once: eight sessions on eight partitions, served by two stream threads sharing one engine, send
 * two turns each all at the same time; every greedy reply equals the reply the same turns get in a session that
 * runs alone.
 */
class ConcurrentSessionsTest {
    static final int SESSIONS = 8, PARTITIONS = 8;
    @TempDir
    static Path dataDir;
    static RazorService service;
    static ManagedChannel channel;
    static MemoryServiceGrpc.MemoryServiceBlockingStub stub;

    @BeforeAll
    static void start() throws Exception {
        service = Services.start(dataDir, null, "razorstream", Map.of("stream.threads", "2", "topic.partitions", String.valueOf(PARTITIONS)));
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

    /** Session ids with the given prefix, one on each partition. */
    static List<String> onEveryPartition(String prefix) {
        String[] byPartition = new String[PARTITIONS];
        for (int i = 0, found = 0; found < PARTITIONS; i++) {
            String id = prefix + i;
            if (byPartition[partition(id)] == null) {
                byPartition[partition(id)] = id;
                found++;
            }
        }
        return List.of(byPartition);
    }

    static String[] turn(int session, int turn) {
        Random r = new Random(31L * session + turn);
        return new String[] {"t" + turn, "Session " + session + " says #" + (char) ('A' + session) + (char) ('K' + turn) + ". " + Services.filler(r, 120 + 40 * session)};
    }

    @Test
    void eightSessionsAtOnceOnTwoStreamThreadsReplyAsEachAlone() throws Exception {
        List<String> concurrent = onEveryPartition("together-"), alone = onEveryPartition("alone-");
        // Both stream threads own some of those partitions, so the sessions are spread over both.
        List<ThreadMetadata> threads = new ArrayList<>(service.streams().metadataForLocalThreads());
        assertThat(threads).hasSize(2);
        for (ThreadMetadata t : threads) assertThat(t.activeTasks()).as(t.threadName()).isNotEmpty();

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
        assertThat(distinct).as("the turns are different enough to get different replies").hasSizeGreaterThan(SESSIONS);
    }

    /** A session id on a partition of the given set (the partitions one stream thread owns). */
    static String onPartitions(String prefix, Set<Integer> partitions) {
        for (int i = 0; ; i++) if (partitions.contains(partition(prefix + i))) return prefix + i;
    }

    /**
     * A short turn sent while another session's long AppendTurns (thousands of tokens) is being prefilled on the other
     * stream thread gets its first token before that ingestion finishes: the engine's passes take every waiting
     * sequence's work, so the short turn's prefill and decode steps join the long prefill's chunks instead of waiting for all of them.
     */
    @Test
    void aShortTurnIsNotStuckBehindAnotherSessionsLongIngestion() throws Exception {
        List<ThreadMetadata> threads = new ArrayList<>(service.streams().metadataForLocalThreads());
        List<Set<Integer>> owned = new ArrayList<>();
        for (ThreadMetadata t : threads) {
            Set<Integer> partitions = new HashSet<>();
            t.activeTasks().forEach(task -> task.topicPartitions().forEach(tp -> partitions.add(tp.partition())));
            owned.add(partitions);
        }
        String longSession = onPartitions("document-", owned.get(0)), shortSession = onPartitions("quick-", owned.get(1));
        assertThat(owned.get(1)).doesNotContain(partition(longSession));

        var append = io.razorstream.proto.v1.AppendTurnsRequest.newBuilder().setSessionId(longSession);
        Random r = new Random(5);
        for (int i = 0; i < 10; i++) {
            append.addTurns(io.razorstream.proto.v1.Turn.newBuilder().setRole(io.razorstream.proto.v1.Role.ROLE_USER)
                    .setTurnId("doc-" + i).setText(Services.filler(r, 900)));
        }
        java.util.concurrent.CompletableFuture<Long> appended = new java.util.concurrent.CompletableFuture<>();
        long sent = System.nanoTime();
        MemoryServiceGrpc.newStub(channel).appendTurns(append.build(), new io.grpc.stub.StreamObserver<>() {
            @Override
            public void onNext(io.razorstream.proto.v1.AppendTurnsResponse value) {}

            @Override
            public void onError(Throwable t) {
                appended.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                appended.complete(System.nanoTime());
            }
        });
        Thread.sleep(1000); // the long ingestion is under way (it takes several seconds)
        var chat = stub.chat(io.razorstream.proto.v1.ChatRequest.newBuilder().setSessionId(shortSession).setTurnId("q1").setText("Quick question. ")
                .setParams(io.razorstream.proto.v1.GenerationParams.newBuilder().setMaxTokens(4)).build());
        long firstToken = 0;
        while (chat.hasNext()) {
            if (chat.next().hasDelta() && firstToken == 0) firstToken = System.nanoTime();
        }
        long done = appended.get(5, TimeUnit.MINUTES);
        System.out.printf("long AppendTurns took %.1f s; the short turn's first token came %.1f s after it was sent%n",
                (done - sent) / 1e9, (firstToken - sent) / 1e9);
        assertThat(firstToken).as("the short turn streamed a token").isNotZero();
        assertThat(firstToken).as("the short turn's first token came before the long ingestion finished").isLessThan(done);
    }
}
