package io.razorstream.app;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.razorstream.app.cli.Main;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.AppendTurnsResponse;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.DeleteSessionRequest;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.GetModelRequest;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.ListSessionsRequest;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.ModelInfo;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.RollbackRequest;
import io.razorstream.proto.v1.RollbackResponse;
import io.razorstream.proto.v1.SessionInfo;
import io.razorstream.proto.v1.Turn;
import io.razorstream.proto.v1.TurnEvent;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static io.razorstream.app.Services.KEY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The service as `serve` runs it with no Kafka configured: its own embedded broker, RocksDB state, gRPC over loopback,
 * the synthetic retrieval model. The tests share one data dir and run in order (the restart test continues the session
 * the first one built).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EmbeddedServiceTest {
    @TempDir
    static Path dataDir;

    static RazorService service;
    static ManagedChannel channel;
    static MemoryServiceGrpc.MemoryServiceBlockingStub stub;

    @BeforeAll
    static void start() throws Exception {
        service = Services.start(dataDir, null, "razorstream");
        channel = Services.channel(service);
        stub = MemoryServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() throws Exception {
        if (channel != null) channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        if (service != null) service.close();
    }

    @Test
    @Order(1)
    void aKeyPlantedFarBackIsRetrievedWithAThreefoldSmallerCache() {
        Random r = new Random(1);
        Services.Reply first = Services.chat(
                stub, "alice", "t0", "Note this. The code is #" + KEY + ". " + Services.filler(r, 200), 4);
        assertThat(first.done()).isNotNull();
        for (int i = 1; i <= 30; i++) {
            AppendTurnsResponse a = stub.appendTurns(AppendTurnsRequest.newBuilder()
                    .setSessionId("alice")
                    .addTurns(Turn.newBuilder().setTurnId("f" + i).setText(Services.filler(r, 100)))
                    .build());
            assertThat(a.getAppended()).isEqualTo(1);
        }
        Services.Reply answer = Services.chat(stub, "alice", "q1", " Remember the code #", 8);
        assertThat(answer.streamed()).as("streamed deltas").contains(KEY);
        assertThat(answer.deltas()).as("the reply streams token by token").isGreaterThan(1);
        assertThat(answer.done().getText()).startsWith(KEY);
        SessionInfo info = stub.getSession(
                GetSessionRequest.newBuilder().setSessionId("alice").build());
        assertThat(info.getCache().getTokens()).isGreaterThan(3000);
        assertThat(info.getCache().getFullKvBytes())
                .isGreaterThanOrEqualTo(3 * info.getCache().getKvBytes());
        assertThat(info.getCache()).isEqualTo(answer.done().getCache());
    }

    @Test
    @Order(2)
    void theSameTurnIdTwiceIsAppliedOnce() {
        Services.Reply once = Services.chat(stub, "bob", "same", "The code is #" + KEY + ". again #", 6);
        long tokens = stub.getSession(
                        GetSessionRequest.newBuilder().setSessionId("bob").build())
                .getCache()
                .getTokens();
        Services.Reply twice = Services.chat(stub, "bob", "same", "The code is #" + KEY + ". again #", 6);
        assertThat(twice.done().getDuplicate()).isTrue();
        assertThat(once.done().getDuplicate()).isFalse();
        assertThat(twice.done().getText()).isEqualTo(once.done().getText());
        assertThat(stub.getSession(GetSessionRequest.newBuilder()
                                .setSessionId("bob")
                                .build())
                        .getCache()
                        .getTokens())
                .isEqualTo(tokens);
    }

    @Test
    @Order(3)
    void turnsProducedToKafkaAreAnsweredOnTheRepliesTopicAndGarbageIsDeadLettered(@TempDir Path tmp) throws Exception {
        produce(tmp, "agent", "not a protobuf at all".getBytes(StandardCharsets.UTF_8));
        produce(
                tmp,
                "agent",
                TurnEvent.newBuilder()
                        .setSessionId("someone-else")
                        .setTurnId("x")
                        .setText("hi")
                        .build()
                        .toByteArray());
        produce(
                tmp,
                "agent",
                TurnEvent.newBuilder()
                        .setSessionId("agent")
                        .setTurnId("big")
                        .setText("y".repeat(300_000))
                        .build()
                        .toByteArray());
        produce(
                tmp,
                "agent",
                TurnEvent.newBuilder()
                        .setSessionId("agent")
                        .setTurnId("k1")
                        .setText("The code is #" + KEY + ". Remember the code #")
                        .setReply(true)
                        .setParams(GenerationParams.newBuilder().setMaxTokens(4))
                        .build()
                        .toByteArray());
        produce(
                tmp,
                "agent",
                TurnEvent.newBuilder()
                        .setSessionId("agent")
                        .setTurnId("bad-schema")
                        .setText("answer in JSON")
                        .setReply(true)
                        .setParams(GenerationParams.newBuilder()
                                .setJsonSchema("{\"type\":\"string\",\"format\":\"email\"}"))
                        .build()
                        .toByteArray());
        produce(
                tmp,
                "agent-json",
                TurnEvent.newBuilder()
                        .setSessionId("agent-json")
                        .setTurnId("j1")
                        .setText("answer in JSON")
                        .setReply(true)
                        .setParams(
                                GenerationParams.newBuilder().setMaxTokens(24).setJsonObject(true))
                        .build()
                        .toByteArray());
        ReplyEvent reply = null, jsonReply = null;
        List<String> reasons = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        service.bootstrapServers(),
                        ConsumerConfig.GROUP_ID_CONFIG,
                        "test-reader",
                        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                        "earliest",
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        "read_committed"),
                new StringDeserializer(),
                new ByteArrayDeserializer())) {
            consumer.subscribe(List.of("razorstream.replies", "razorstream.dead-letters"));
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while ((reply == null || jsonReply == null || reasons.size() < 4) && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> rec : consumer.poll(Duration.ofMillis(500))) {
                    if (rec.topic().equals("razorstream.dead-letters")) {
                        reasons.add(new String(
                                rec.headers().lastHeader("razorstream.error").value(), StandardCharsets.UTF_8));
                    } else if (rec.key().equals("agent")) {
                        reply = ReplyEvent.parseFrom(rec.value());
                    } else if (rec.key().equals("agent-json")) {
                        jsonReply = ReplyEvent.parseFrom(rec.value());
                    }
                }
            }
        }
        assertThat(reasons)
                .anyMatch(s -> s.startsWith("not a razorstream.v1.TurnEvent"))
                .anyMatch(s -> s.contains("must be the session id"))
                .anyMatch(s -> s.contains("the limit is 262144"))
                .anyMatch(s -> s.contains("json_schema") && s.contains("'format'"));
        // a Kafka-only agent asks for JSON and gets an object, whatever the model
        assertThat(jsonReply).isNotNull();
        assertThat(new com.fasterxml.jackson.databind.ObjectMapper()
                        .readTree(jsonReply.getText())
                        .isObject())
                .as(jsonReply.getText())
                .isTrue();
        assertThat(reply).isNotNull();
        assertThat(reply.getTurnId()).isEqualTo("k1");
        assertThat(reply.getText()).startsWith(KEY);
    }

    /** With kcat when it is installed (bin/test installs it), as a shell user would; else with a Java producer. */
    static void produce(Path tmp, String key, byte[] value) throws Exception {
        if (kcat() != null) {
            Path file = Files.write(tmp.resolve("event-" + System.nanoTime()), value);
            Process p = new ProcessBuilder(
                            kcat(),
                            "-P",
                            "-b",
                            service.bootstrapServers(),
                            "-t",
                            "razorstream.turns",
                            "-k",
                            key,
                            file.toString())
                    .redirectErrorStream(true)
                    .start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("kcat: %s", output).isZero();
            return;
        }
        System.out.println("kcat is not installed: producing with the Java client instead");
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(
                Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, service.bootstrapServers()),
                new StringSerializer(),
                new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>("razorstream.turns", key, value)).get();
        }
    }

    static String kcat() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, "kcat")))
                return Path.of(dir, "kcat").toString();
        }
        return null;
    }

    @Test
    @Order(4)
    void doneArrivesOnlyOnceTheReplyIsVisibleToAReadCommittedConsumer() {
        for (int i = 0; i < 3; i++) {
            String turn = "committed-" + i;
            Services.Reply chat =
                    Services.chat(stub, "committed-replies", turn, "The code is #" + KEY + ". Remember the code #", 4);
            assertThat(chat.done()).isNotNull();
            // Right after done: everything a read_committed consumer can read now (up to the last stable offset)
            try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(
                    Map.of(
                            ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                            service.bootstrapServers(),
                            ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                            "read_committed"),
                    new StringDeserializer(),
                    new ByteArrayDeserializer())) {
                List<TopicPartition> partitions = consumer.partitionsFor("razorstream.replies").stream()
                        .map(p -> new TopicPartition(p.topic(), p.partition()))
                        .toList();
                consumer.assign(partitions);
                consumer.seekToBeginning(partitions);
                Map<TopicPartition, Long> stable = consumer.endOffsets(partitions);
                boolean seen = false;
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (partitions.stream().anyMatch(p -> consumer.position(p) < stable.get(p))
                        && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, byte[]> rec : consumer.poll(Duration.ofMillis(200))) {
                        if (stable.get(new TopicPartition(rec.topic(), rec.partition())) <= rec.offset()) continue;
                        try {
                            seen |= ReplyEvent.parseFrom(rec.value())
                                    .getTurnId()
                                    .equals(turn);
                        } catch (InvalidProtocolBufferException e) {
                            throw new AssertionError(e);
                        }
                    }
                }
                assertThat(seen)
                        .as("turn %s's reply is committed when its done arrives", turn)
                        .isTrue();
            }
        }
    }

    @Test
    @Order(4)
    void badInputGetsTheRightStatusCodes() {
        assertThat(code(() -> Services.chat(stub, "", "t", "hello", 4))).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(code(() -> stub.getSession(
                        GetSessionRequest.newBuilder().setSessionId("nobody").build())))
                .isEqualTo(Status.Code.NOT_FOUND);
        assertThat(code(() -> Services.chat(stub, "carol", "t", "x".repeat(300_000), 4)))
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThatThrownBy(() -> Services.chat(stub, "carol", "t", "x".repeat(300_000), 4))
                .hasMessageContaining("the limit is 262144");
        assertThat(code(() -> Services.chat(stub, "carol", "t", "hi", 0))).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(code(() -> stub.chat(ChatRequest.newBuilder()
                                .setSessionId("carol")
                                .setText("hi")
                                .setParams(GenerationParams.newBuilder().setTemperature(-1))
                                .build())
                        .hasNext()))
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(code(() -> stub.chat(ChatRequest.newBuilder()
                                .setSessionId("carol")
                                .setText("hi")
                                .setParams(GenerationParams.newBuilder().setTopP(2))
                                .build())
                        .hasNext()))
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(code(() -> stub.appendTurns(
                        AppendTurnsRequest.newBuilder().setSessionId("carol").build())))
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(code(() -> stub.listSessions(
                        ListSessionsRequest.newBuilder().setPageSize(-1).build())))
                .isEqualTo(Status.Code.INVALID_ARGUMENT);
    }

    static Status.Code code(Runnable call) {
        try {
            call.run();
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
    }

    @Test
    @Order(5)
    void modelListingDeletingAndHealth() {
        ModelInfo model = stub.getModel(GetModelRequest.getDefaultInstance());
        assertThat(model.getRetrievalHeadsList()).hasSize(2);
        assertThat(model.getWindowMin()).isEqualTo(64);
        // The store's order: shorter ids first, then bytewise.
        assertThat(stub.listSessions(
                                ListSessionsRequest.newBuilder().setPageSize(3).build())
                        .getSessionsList())
                .extracting(SessionInfo::getSessionId)
                .containsExactly("bob", "agent", "alice");
        var page1 = stub.listSessions(
                ListSessionsRequest.newBuilder().setPageSize(1).build());
        var page2 = stub.listSessions(ListSessionsRequest.newBuilder()
                .setPageSize(1)
                .setPageToken(page1.getNextPageToken())
                .build());
        assertThat(page1.getSessions(0).getSessionId()).isEqualTo("bob");
        assertThat(page2.getSessions(0).getSessionId()).isEqualTo("agent");
        assertThat(stub.deleteSession(DeleteSessionRequest.newBuilder()
                                .setSessionId("bob")
                                .build())
                        .getDeleted())
                .isTrue();
        assertThat(stub.deleteSession(DeleteSessionRequest.newBuilder()
                                .setSessionId("bob")
                                .build())
                        .getDeleted())
                .isFalse();
        assertThat(code(() -> stub.getSession(
                        GetSessionRequest.newBuilder().setSessionId("bob").build())))
                .isEqualTo(Status.Code.NOT_FOUND);
        // the command-line client, as scripts use it
        var out = new StringWriter();
        var cli = Main.commandLine();
        cli.setOut(new PrintWriter(out));
        assertThat(cli.execute(
                        "chat",
                        "--target",
                        "localhost:" + service.grpcPort(),
                        "--session",
                        "alice",
                        "--message",
                        " The code was #",
                        "--max-tokens",
                        "4"))
                .isZero();
        assertThat(out.toString()).startsWith(KEY);
        out.getBuffer().setLength(0);
        assertThat(cli.execute("session", "--target", "localhost:" + service.grpcPort(), "--session", "alice"))
                .isZero();
        assertThat(out.toString())
                .contains("\"sessionId\": \"alice\"")
                .contains("\"kvBytes\"")
                .contains("\"fullKvBytes\"");
        assertThat(HealthGrpc.newBlockingStub(channel)
                        .check(HealthCheckRequest.newBuilder()
                                .setService("razorstream.v1.MemoryService")
                                .build())
                        .getStatus())
                .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }

    /** Sampled (temperature and seed), so that "the same reply again" means the same seed gives it, not just greedy. */
    static final GenerationParams SAMPLED = GenerationParams.newBuilder()
            .setMaxTokens(6)
            .setTemperature(0.9f)
            .setSeed(11)
            .build();

    static String firstReply;

    /**
     * Session undo-a has three turns and takes two back; undo-b only ever had the first. Their stored caches (every
     * block, head record and undo record) are then bit for bit the same; a regenerate takes back the first turn of each
     * and, with the same seed, gives the first reply again. The restart test checks both again after a restart.
     */
    @Test
    @Order(6)
    void aTurnTakenBackLeavesTheSessionAsIfItWasNeverSent() {
        Random r = new Random(7);
        // Each turn is longer than the synthetic model's 64-token window: its window heads evict during every turn.
        String t1 = "The code is #" + KEY + ". " + Services.filler(r, 400) + " Code #";
        String t2 = Services.filler(r, 400) + " The code is #", t3 = Services.filler(r, 400) + " Again, the code is #";
        Services.Reply a1 = Services.chat(stub, "undo-a", "t1", t1, SAMPLED, false);
        Services.chat(stub, "undo-a", "t2", t2, SAMPLED, false);
        Services.chat(stub, "undo-a", "t3", t3, SAMPLED, false);
        Services.Reply b1 = Services.chat(stub, "undo-b", "t1", t1, SAMPLED, false);
        firstReply = a1.done().getText();
        assertThat(b1.done().getText()).isEqualTo(firstReply);
        SessionInfo withThree = info("undo-a");
        assertThat(withThree.getCache().getUndoableTurns()).isEqualTo(3);
        assertThat(withThree.getCache().getUndoBytes())
                .as("window entries the turns evicted are kept to undo them")
                .isPositive();
        assertThat(Services.storedDigest(service, "undo-a")).isNotEqualTo(Services.storedDigest(service, "undo-b"));

        RollbackRequest rollback = RollbackRequest.newBuilder()
                .setSessionId("undo-a")
                .setTurns(2)
                .setTurnId("undo-1")
                .build();
        RollbackResponse back = stub.rollback(rollback);
        assertThat(back.getTurnIdsList()).containsExactly("t3", "t2");
        assertThat(back.getDuplicate()).isFalse();
        assertThat(Services.storedDigest(service, "undo-a"))
                .as("stored cache after the rollback")
                .isEqualTo(Services.storedDigest(service, "undo-b"));
        assertThat(info("undo-a").getCache()).isEqualTo(info("undo-b").getCache());
        assertThat(back.getCache()).isEqualTo(info("undo-b").getCache());

        // The same rollback again (a retry) takes nothing more back.
        assertThat(stub.rollback(rollback).getDuplicate()).isTrue();
        assertThat(Services.storedDigest(service, "undo-a")).isEqualTo(Services.storedDigest(service, "undo-b"));
        // A turn taken back is never applied again under its id; more turns than are left cannot be taken back.
        StatusRuntimeException resent = Services.failure(() -> Services.chat(stub, "undo-a", "t2", t2, SAMPLED, false));
        assertThat(resent.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(resent.getStatus().getDescription()).contains("taken back", "new turn id");
        StatusRuntimeException tooMany = Services.failure(
                () -> stub.rollback(rollback.toBuilder().setTurnId("undo-2").build()));
        assertThat(tooMany.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(tooMany.getStatus().getDescription()).contains("cannot take back 2 turns", "1 can be");
        assertThat(Services.failure(() -> stub.rollback(RollbackRequest.newBuilder()
                                .setSessionId("nobody")
                                .setTurns(1)
                                .build()))
                        .getStatus()
                        .getCode())
                .isEqualTo(Status.Code.NOT_FOUND);
        assertThat(Services.failure(() ->
                                stub.rollback(rollback.toBuilder().setTurns(0).build()))
                        .getStatus()
                        .getCode())
                .isEqualTo(Status.Code.INVALID_ARGUMENT);

        // Regenerate: the first turn taken back and its message answered again; the same seed gives the same reply.
        Services.Reply regenerated = Services.chat(stub, "undo-a", "t1-again", "", SAMPLED, true);
        assertThat(regenerated.done().getRolledBackTurnIdsList()).containsExactly("t1");
        assertThat(regenerated.done().getText()).isEqualTo(firstReply);
        assertThat(regenerated.streamed()).isEqualTo(firstReply);
        Services.chat(stub, "undo-b", "t1-again", "", SAMPLED, true);
        assertThat(Services.storedDigest(service, "undo-a")).isEqualTo(Services.storedDigest(service, "undo-b"));
        StatusRuntimeException nothing = Services.failure(() -> Services.chat(stub, "fresh", "x", "", SAMPLED, true));
        assertThat(nothing.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    }

    private static SessionInfo info(String session) {
        return stub.getSession(
                GetSessionRequest.newBuilder().setSessionId(session).build());
    }

    @Test
    @Order(7)
    void afterARestartOnTheSameDataDirTheSessionContinues() throws Exception {
        long before = stub.getSession(
                        GetSessionRequest.newBuilder().setSessionId("alice").build())
                .getCache()
                .getTokens();
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        service.close();
        service = Services.start(dataDir, null, "razorstream");
        channel = Services.channel(service);
        stub = MemoryServiceGrpc.newBlockingStub(channel);
        assertThat(stub.getSession(GetSessionRequest.newBuilder()
                                .setSessionId("alice")
                                .build())
                        .getCache()
                        .getTokens())
                .isEqualTo(before);
        Services.Reply again = Services.chat(stub, "alice", "q2", " Once more, the code is #", 6);
        assertThat(again.done().getText()).startsWith(KEY);
        assertThat(again.done().getCache().getTokens()).isGreaterThan(before);

        // The sessions of the rollback test, loaded from disk: still the same; their undo records take them back the
        // same.
        assertThat(Services.storedDigest(service, "undo-a")).isEqualTo(Services.storedDigest(service, "undo-b"));
        for (String s : new String[] {"undo-a", "undo-b"}) {
            Services.Reply next = Services.chat(stub, s, "t2-again", "", SAMPLED, true);
            assertThat(next.done().getRolledBackTurnIdsList()).containsExactly("t1-again");
            assertThat(next.done().getText()).isEqualTo(firstReply);
        }
        assertThat(Services.storedDigest(service, "undo-a")).isEqualTo(Services.storedDigest(service, "undo-b"));
        // The command-line client's rollback, and the RPC: the same again.
        var out = new StringWriter();
        var cli = Main.commandLine();
        cli.setOut(new PrintWriter(out));
        assertThat(cli.execute("rollback", "--target", "localhost:" + service.grpcPort(), "--session", "undo-a"))
                .isZero();
        assertThat(out.toString()).contains("\"turnIds\": [\"t2-again\"]").contains("\"undoableTurns\"");
        stub.rollback(
                RollbackRequest.newBuilder().setSessionId("undo-b").setTurns(1).build());
        assertThat(Services.storedDigest(service, "undo-a")).isEqualTo(Services.storedDigest(service, "undo-b"));
        assertThat(info("undo-a").getCache().getTokens()).isZero();
    }
}
