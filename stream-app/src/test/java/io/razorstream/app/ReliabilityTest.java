package io.razorstream.app;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.AppendTurnsResponse;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.DeleteSessionRequest;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.ListSessionsRequest;
import io.razorstream.proto.v1.ListSessionsResponse;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.SessionInfo;
import io.razorstream.proto.v1.Turn;
import io.razorstream.proto.v1.TurnEvent;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.zip.CRC32;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One embedded service, the reliability promises: a session stays one session whatever partitioner its producer used,
 * AppendTurns is all or none, a turn id is remembered for the session's whole life, and no call ever fails with
 * UNKNOWN.
 */
class ReliabilityTest {
    static final int MAX_SESSION_TOKENS = 2000;

    @TempDir
    static Path dataDir;

    static RazorService service;
    static ManagedChannel channel;
    static MemoryServiceGrpc.MemoryServiceBlockingStub stub;

    /**
     * Status codes of every method, called over and over while the service was starting (partitions being assigned).
     */
    static final Set<Status.Code> codesWhileStarting = EnumSet.noneOf(Status.Code.class);

    @BeforeAll
    static void start() throws Exception {
        service = Services.startWithoutWaiting(
                dataDir, null, "razorstream", Map.of("sessions.max-tokens", String.valueOf(MAX_SESSION_TOKENS)));
        channel = Services.channel(service);
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (service.streams().state() != KafkaStreams.State.RUNNING && System.nanoTime() < deadline) {
            var quick = MemoryServiceGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS);
            List<Runnable> calls = List.of(
                    () -> quick.getSession(GetSessionRequest.newBuilder()
                            .setSessionId("starting")
                            .build()),
                    () -> quick.listSessions(ListSessionsRequest.getDefaultInstance()),
                    () -> quick.deleteSession(DeleteSessionRequest.newBuilder()
                            .setSessionId("starting")
                            .build()),
                    () -> quick.appendTurns(AppendTurnsRequest.newBuilder()
                            .setSessionId("starting")
                            .addTurns(Turn.newBuilder().setText("x"))
                            .build()),
                    () -> quick.chat(ChatRequest.newBuilder()
                                    .setSessionId("starting")
                                    .setText("x")
                                    .build())
                            .forEachRemaining(r -> {}));
            for (Runnable call : calls) {
                try {
                    call.run();
                    codesWhileStarting.add(Status.Code.OK);
                } catch (StatusRuntimeException e) {
                    codesWhileStarting.add(e.getStatus().getCode());
                }
            }
        }
        service.awaitRunning(Duration.ofMinutes(2));
        stub = MemoryServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.MINUTES);
    }

    /**
     * Calls made while the stores are not queryable yet wait for them (bounded) and are answered (NOT_FOUND: the
     * session does not exist), or reach their own 2 s deadline first; never UNKNOWN or INTERNAL.
     */
    @Test
    void callsWhileTheServiceStartsWaitForItNeverUnknown() {
        assertThat(codesWhileStarting)
                .as("codes seen while starting")
                .contains(Status.Code.NOT_FOUND)
                .doesNotContain(Status.Code.UNKNOWN, Status.Code.INTERNAL);
    }

    @AfterAll
    static void stop() throws Exception {
        if (channel != null) channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        if (service != null) service.close();
    }

    static int javaPartition(String key) {
        return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % 4;
    }

    /** librdkafka's default partitioner (consistent_random): CRC32 of the key. */
    static int librdkafkaPartition(String key) {
        CRC32 crc = new CRC32();
        crc.update(key.getBytes(StandardCharsets.UTF_8));
        return (int) (crc.getValue() % 4);
    }

    @Test
    void turnsInTheWrongPartitionJoinTheirSession(@TempDir Path tmp) throws Exception {
        String session = "demo";
        assertThat(librdkafkaPartition(session))
                .as("the key must land elsewhere with kcat for this test to mean anything")
                .isNotEqualTo(javaPartition(session));
        int wrong = (javaPartition(session) + 1) % 4;
        List<String> expected = new ArrayList<>();
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(
                Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, service.bootstrapServers()),
                new StringSerializer(),
                new ByteArraySerializer())) {
            for (int i = 0; i < 3; i++) {
                String id = "java-wrong-" + i;
                expected.add(id);
                producer.send(new ProducerRecord<>(
                                "razorstream.turns",
                                wrong,
                                session,
                                turn(session, id, "part " + i + " of the story. ")))
                        .get();
            }
        }
        String kcat = EmbeddedServiceTest.kcat();
        if (kcat != null) {
            for (int i = 0; i < 2; i++) {
                String id = "kcat-" + i;
                expected.add(id);
                Path file = Files.write(tmp.resolve(id), turn(session, id, "kcat part " + i + ". "));
                Process p = new ProcessBuilder(
                                kcat,
                                "-P",
                                "-b",
                                service.bootstrapServers(),
                                "-t",
                                "razorstream.turns",
                                "-k",
                                session,
                                file.toString())
                        .redirectErrorStream(true)
                        .start();
                String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
                assertThat(p.exitValue()).as("kcat: %s", output).isZero();
            }
        } else {
            System.out.println(
                    "kcat is not installed: only the Java producer with an explicit wrong partition is tested");
        }
        List<ReplyEvent> replies = awaitReplies(session, expected.size());
        assertThat(replies).extracting(ReplyEvent::getTurnId).containsExactlyInAnyOrderElementsOf(expected);
        assertThat(replies).allSatisfy(r -> assertThat(r.getError()).isEmpty());
        // One session: every reply saw the tokens of all turns before it.
        long[] tokens =
                replies.stream().mapToLong(r -> r.getCache().getTokens()).toArray();
        for (int i = 1; i < tokens.length; i++) assertThat(tokens[i]).isGreaterThan(tokens[i - 1]);
        var chat = Services.chat(stub, session, "grpc-0", "and the end. ", 3);
        assertThat(chat.done().getCache().getTokens()).isGreaterThan(tokens[tokens.length - 1]);
        List<SessionInfo> listed = stub.listSessions(
                        ListSessionsRequest.newBuilder().setPageSize(1000).build())
                .getSessionsList();
        assertThat(listed).filteredOn(s -> s.getSessionId().equals(session)).hasSize(1);
        SessionInfo info = stub.getSession(
                GetSessionRequest.newBuilder().setSessionId(session).build());
        assertThat(info.getTurnsRemembered()).isEqualTo(expected.size() + 1);
        assertThat(info.getCache().getTokens()).isEqualTo(chat.done().getCache().getTokens());
    }

    private static byte[] turn(String session, String id, String text) {
        return TurnEvent.newBuilder()
                .setSessionId(session)
                .setTurnId(id)
                .setText(text)
                .build()
                .toByteArray();
    }

    private static List<ReplyEvent> awaitReplies(String session, int count) {
        List<ReplyEvent> replies = new ArrayList<>();
        Services.consume(
                service.bootstrapServers(),
                "reliability-" + session,
                List.of("razorstream.replies"),
                Duration.ofSeconds(90),
                rec -> {
                    if (rec.key().equals(session)) replies.add(parseReply(rec.value()));
                    return replies.size() >= count;
                });
        return replies;
    }

    static ReplyEvent parseReply(byte[] value) {
        try {
            return ReplyEvent.parseFrom(value);
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError("not a ReplyEvent on the replies topic", e);
        }
    }

    @Test
    void appendTurnsAppliesAllOrNone() {
        String session = "atomic";
        String tooLong =
                "the quick brown fox jumps over a lazy dog. ".repeat(200); // far more than MAX_SESSION_TOKENS tokens
        AppendTurnsRequest bad = AppendTurnsRequest.newBuilder()
                .setSessionId(session)
                .addTurns(Turn.newBuilder().setTurnId("a1").setText("first turn. "))
                .addTurns(Turn.newBuilder().setTurnId("a2").setText(tooLong))
                .addTurns(Turn.newBuilder().setTurnId("a3").setText("third turn. "))
                .build();
        StatusRuntimeException e = Services.failure(() -> stub.appendTurns(bad));
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(e.getStatus().getDescription()).contains("turn 2 of 3").contains("no turn of the batch was applied");
        assertThat(Services.failure(() -> stub.getSession(GetSessionRequest.newBuilder()
                                .setSessionId(session)
                                .build()))
                        .getStatus()
                        .getCode())
                .as("nothing of the batch was applied")
                .isEqualTo(Status.Code.NOT_FOUND);

        AppendTurnsRequest good = AppendTurnsRequest.newBuilder()
                .setSessionId(session)
                .addTurns(Turn.newBuilder().setTurnId("a1").setText("first turn. "))
                .addTurns(Turn.newBuilder().setTurnId("a3").setText("third turn. "))
                .build();
        AppendTurnsResponse first = stub.appendTurns(good);
        assertThat(first.getAppended()).isEqualTo(2);
        AppendTurnsResponse again = stub.appendTurns(good);
        assertThat(again.getAppended()).as("a resent batch applies nothing").isZero();
        assertThat(again.getCache().getTokens()).isEqualTo(first.getCache().getTokens());
        // A batch that fails after a turn that was applied before: the earlier batch stays, the new one is dropped
        // whole.
        StatusRuntimeException e2 = Services.failure(() -> stub.appendTurns(AppendTurnsRequest.newBuilder()
                .setSessionId(session)
                .addTurns(Turn.newBuilder().setTurnId("a1").setText("first turn. "))
                .addTurns(Turn.newBuilder().setTurnId("a4").setText("fourth turn. "))
                .addTurns(Turn.newBuilder().setTurnId("a5").setText(tooLong))
                .build()));
        assertThat(e2.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        SessionInfo info = stub.getSession(
                GetSessionRequest.newBuilder().setSessionId(session).build());
        assertThat(info.getCache().getTokens()).isEqualTo(first.getCache().getTokens());
        assertThat(info.getTurnsRemembered()).isEqualTo(2);
        // The next turn builds on the session as stored, not on a copy that kept the dropped batch's first turns:
        // the same turns on a session that never saw a failure give the same cache.
        AppendTurnsRequest.Builder next = AppendTurnsRequest.newBuilder()
                .addTurns(Turn.newBuilder().setTurnId("a6").setText("sixth turn. "));
        long after =
                stub.appendTurns(next.setSessionId(session).build()).getCache().getTokens();
        stub.appendTurns(good.toBuilder().setSessionId(session + "-control").build());
        assertThat(stub.appendTurns(next.setSessionId(session + "-control").build())
                        .getCache()
                        .getTokens())
                .isEqualTo(after);
    }

    /**
     * A session pushed past sessions.max-tokens keeps answering: its cache is shifted (the default session.overflow),
     * the turn that shifted says so, and GetSession shows the shifts, a position within the limit and more tokens than
     * it.
     */
    @Test
    void aSessionPushedPastTheContextKeepsAnswering() {
        String session = "never-ending";
        String paragraph = "the quick brown fox jumps over a lazy dog. ".repeat(12);
        int shiftedTurns = 0;
        for (int i = 0; i < 30; i++) {
            AppendTurnsResponse r = stub.appendTurns(AppendTurnsRequest.newBuilder()
                    .setSessionId(session)
                    .addTurns(Turn.newBuilder().setTurnId("p" + i).setText(paragraph))
                    .build());
            assertThat(r.getCache().getPosition()).isLessThanOrEqualTo(MAX_SESSION_TOKENS);
            if (r.getCache().getShifts() > shiftedTurns)
                shiftedTurns = r.getCache().getShifts();
        }
        var reply = Services.chat(stub, session, "question", "What jumps over the dog? ", 4);
        assertThat(reply.done().getCompletionTokens())
                .as("the shifted session still answers")
                .isPositive();
        SessionInfo info = stub.getSession(
                GetSessionRequest.newBuilder().setSessionId(session).build());
        assertThat(info.getCache().getTokens()).as("tokens ever").isGreaterThan(MAX_SESSION_TOKENS);
        assertThat(info.getCache().getPosition()).isLessThanOrEqualTo(MAX_SESSION_TOKENS);
        assertThat(info.getCache().getShifts())
                .as("GetSession shows the shifts")
                .isPositive()
                .isGreaterThanOrEqualTo(shiftedTurns);
        assertThat(info.getCache().getTokens() - info.getCache().getPosition())
                .as("positions given back")
                .isPositive();
    }

    @Test
    void aTurnIdIsRememberedForTheSessionsLife() {
        String session = "long-memory";
        var original = Services.chat(stub, session, "turn-0", "The code is #K7Q2. Remember the code #", 4);
        assertThat(original.done().getDuplicate()).isFalse();
        AppendTurnsRequest.Builder many = AppendTurnsRequest.newBuilder().setSessionId(session);
        for (int i = 1; i <= 70; i++)
            many.addTurns(Turn.newBuilder().setTurnId("turn-" + i).setText("w" + i + " "));
        assertThat(stub.appendTurns(many.build()).getAppended()).isEqualTo(70);
        long tokens = stub.getSession(
                        GetSessionRequest.newBuilder().setSessionId(session).build())
                .getCache()
                .getTokens();

        var again = Services.chat(stub, session, "turn-0", "The code is #K7Q2. Remember the code #", 4);
        assertThat(again.done().getDuplicate()).as("71 turns later").isTrue();
        assertThat(again.done().getText()).isEqualTo(original.done().getText());
        assertThat(again.done().getFinishReason())
                .isEqualTo(original.done().getFinishReason())
                .isNotEqualTo(FinishReason.FINISH_REASON_UNSPECIFIED);
        assertThat(again.done().getCompletionTokens())
                .isEqualTo(original.done().getCompletionTokens())
                .isPositive();
        assertThat(again.done().getPromptTokens()).isEqualTo(original.done().getPromptTokens());
        var chat5 = Services.chat(stub, session, "turn-5", "anything", 4);
        assertThat(chat5.done().getDuplicate()).isTrue();
        assertThat(chat5.done().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_NO_REPLY);
        SessionInfo info = stub.getSession(
                GetSessionRequest.newBuilder().setSessionId(session).build());
        assertThat(info.getCache().getTokens()).as("duplicates change nothing").isEqualTo(tokens);
        assertThat(info.getTurnsRemembered()).isEqualTo(71);
    }

    @Test
    void noCallFailsWithUnknown() {
        String s = "sweep";
        Services.chat(stub, s, "t0", "hello there. ", 2);
        Services.chat(stub, s + "-2", "t0", "hello again. ", 2); // two sessions at least: ListSessions pages
        GenerationParams ok = GenerationParams.newBuilder().setMaxTokens(2).build();
        GenerationParams.Builder manyStops = ok.toBuilder();
        for (int i = 0; i < 100_000; i++) manyStops.addStop("s" + i);
        record Case(String name, Status.Code code, Supplier<Object> call) {}
        List<Case> cases = List.of(
                new Case(
                        "chat: empty session id",
                        Status.Code.INVALID_ARGUMENT,
                        () -> Services.chat(stub, "", "t", "x", 2)),
                new Case(
                        "chat: unknown role",
                        Status.Code.INVALID_ARGUMENT,
                        () -> drain(ChatRequest.newBuilder()
                                .setSessionId(s)
                                .setTurnId("r")
                                .setText("x")
                                .setRoleValue(42)
                                .setParams(ok)
                                .build())),
                new Case(
                        "chat: NaN temperature",
                        Status.Code.INVALID_ARGUMENT,
                        () -> drain(chatWith(s, ok.toBuilder().setTemperature(Float.NaN)))),
                new Case(
                        "chat: temperature 1e30",
                        Status.Code.INVALID_ARGUMENT,
                        () -> drain(chatWith(s, ok.toBuilder().setTemperature(1e30f)))),
                new Case(
                        "chat: infinite repeat penalty",
                        Status.Code.INVALID_ARGUMENT,
                        () -> drain(chatWith(s, ok.toBuilder().setRepeatPenalty(Float.POSITIVE_INFINITY)))),
                new Case(
                        "chat: 1 MB stop string",
                        Status.Code.INVALID_ARGUMENT,
                        () -> drain(chatWith(s, ok.toBuilder().addStop("x".repeat(1 << 20))))),
                new Case(
                        "chat: 100,000 stop strings",
                        Status.Code.INVALID_ARGUMENT,
                        () -> drain(chatWith(s, manyStops))),
                new Case(
                        "chat: max_tokens 0",
                        Status.Code.INVALID_ARGUMENT,
                        () -> drain(chatWith(s, GenerationParams.newBuilder().setMaxTokens(0)))),
                new Case(
                        "chat: turn past the session limit",
                        Status.Code.INVALID_ARGUMENT,
                        () -> Services.chat(stub, s, "huge", "the quick brown fox. ".repeat(400), 2)),
                new Case(
                        "appendTurns: none",
                        Status.Code.INVALID_ARGUMENT,
                        () -> stub.appendTurns(
                                AppendTurnsRequest.newBuilder().setSessionId(s).build())),
                new Case(
                        "appendTurns: unknown role",
                        Status.Code.INVALID_ARGUMENT,
                        () -> stub.appendTurns(AppendTurnsRequest.newBuilder()
                                .setSessionId(s)
                                .addTurns(Turn.newBuilder().setText("x").setRoleValue(7))
                                .build())),
                new Case(
                        "appendTurns: empty session",
                        Status.Code.INVALID_ARGUMENT,
                        () -> stub.appendTurns(AppendTurnsRequest.newBuilder()
                                .addTurns(Turn.newBuilder().setText("x"))
                                .build())),
                new Case(
                        "getSession: unknown",
                        Status.Code.NOT_FOUND,
                        () -> stub.getSession(GetSessionRequest.newBuilder()
                                .setSessionId("nobody")
                                .build())),
                new Case(
                        "getSession: id too long",
                        Status.Code.INVALID_ARGUMENT,
                        () -> stub.getSession(GetSessionRequest.newBuilder()
                                .setSessionId("x".repeat(300))
                                .build())),
                new Case(
                        "deleteSession: empty id",
                        Status.Code.INVALID_ARGUMENT,
                        () -> stub.deleteSession(
                                DeleteSessionRequest.newBuilder().build())),
                new Case(
                        "listSessions: negative page",
                        Status.Code.INVALID_ARGUMENT,
                        () -> stub.listSessions(
                                ListSessionsRequest.newBuilder().setPageSize(-1).build())),
                new Case(
                        "listSessions: made-up token",
                        Status.Code.INVALID_ARGUMENT,
                        () -> stub.listSessions(ListSessionsRequest.newBuilder()
                                .setPageToken("sweep")
                                .build())),
                new Case("listSessions: edited token", Status.Code.INVALID_ARGUMENT, () -> {
                    ListSessionsResponse page = stub.listSessions(
                            ListSessionsRequest.newBuilder().setPageSize(1).build());
                    String token = page.getNextPageToken();
                    assertThat(token).isNotEmpty();
                    char c = token.charAt(3); // inside the checksum
                    return stub.listSessions(ListSessionsRequest.newBuilder()
                            .setPageToken(token.substring(0, 3) + (c == 'A' ? 'B' : 'A') + token.substring(4))
                            .build());
                }));
        for (Case c : cases) {
            StatusRuntimeException failure = Services.failure(c.call());
            assertThat(failure.getStatus().getCode())
                    .as("%s: %s", c.name(), failure.getStatus())
                    .isEqualTo(c.code());
            assertThat(failure.getStatus().getDescription()).as(c.name()).isNotBlank();
        }
        // A page token given out is taken back.
        ListSessionsResponse page1 = stub.listSessions(
                ListSessionsRequest.newBuilder().setPageSize(1).build());
        ListSessionsResponse page2 = stub.listSessions(ListSessionsRequest.newBuilder()
                .setPageSize(1)
                .setPageToken(page1.getNextPageToken())
                .build());
        assertThat(page2.getSessions(0).getSessionId())
                .isNotEqualTo(page1.getSessions(0).getSessionId());
    }

    private static ChatRequest chatWith(String session, GenerationParams.Builder params) {
        return ChatRequest.newBuilder()
                .setSessionId(session)
                .setTurnId("p-" + System.nanoTime())
                .setText("x")
                .setParams(params)
                .build();
    }

    private static Object drain(ChatRequest req) {
        stub.chat(req).forEachRemaining(r -> {});
        return null;
    }
}
