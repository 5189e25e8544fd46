package io.razorstream.app.cli;

import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.razorstream.proto.v1.CacheStats;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.SessionInfo;
import io.razorstream.proto.v1.TurnEvent;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * The client commands (chat --target, session, turn-event) against a fake service, a port where nothing answers and bad
 * targets; run in process, plus one run as a child JVM without jdk.incubator.vector.
 */
public class ClientCommandsTest {
    /** Accepts TCP connections and never says a word (no HTTP/2): a call can only end by its deadline. */
    private static ServerSocket silent;

    private static final List<Socket> accepted = new CopyOnWriteArrayList<>();
    /** A fake MemoryService: records turn ids, replies "OK" to new ones and the stored text to repeated ones. */
    private static Server fake;

    private static final Map<String, String> replies = new ConcurrentHashMap<>();

    @BeforeAll
    static void start() throws IOException {
        silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(
                () -> {
                    try {
                        while (true) accepted.add(silent.accept());
                    } catch (IOException closed) {
                        // the test is over
                    }
                },
                "silent-acceptor");
        acceptor.setDaemon(true);
        acceptor.start();
        fake = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
                .addService(new MemoryServiceGrpc.MemoryServiceImplBase() {
                    @Override
                    public void chat(ChatRequest req, StreamObserver<ChatResponse> out) {
                        if (req.getRegenerate()) { // as the service answers a session with nothing to regenerate
                            out.onError(Status.FAILED_PRECONDITION
                                    .withDescription("nothing to regenerate here")
                                    .asRuntimeException());
                            return;
                        }
                        String stored = replies.get(req.getTurnId());
                        ChatDone.Builder done = ChatDone.newBuilder()
                                .setTurnId(req.getTurnId())
                                .setCache(CacheStats.newBuilder().setTokens(7));
                        if (stored != null) {
                            out.onNext(ChatResponse.newBuilder()
                                    .setDone(done.setText(stored).setDuplicate(true))
                                    .build());
                        } else {
                            String reply = "OK:" + req.getText();
                            replies.put(req.getTurnId(), reply);
                            out.onNext(ChatResponse.newBuilder().setDelta(reply).build());
                            out.onNext(ChatResponse.newBuilder()
                                    .setDone(done.setText(reply))
                                    .build());
                        }
                        out.onCompleted();
                    }

                    @Override
                    public void getSession(GetSessionRequest req, StreamObserver<SessionInfo> out) {
                        if (req.getSessionId().equals("known")) {
                            out.onNext(SessionInfo.newBuilder()
                                    .setSessionId("known")
                                    .setCache(CacheStats.newBuilder().setTokens(42))
                                    .build());
                            out.onCompleted();
                        } else {
                            out.onError(Status.NOT_FOUND
                                    .withDescription("no session " + req.getSessionId())
                                    .asRuntimeException());
                        }
                    }
                })
                .build()
                .start();
    }

    @AfterAll
    static void stop() throws Exception {
        silent.close();
        for (Socket s : accepted) s.close();
        fake.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    /** A command's exit status and output, run in process (SecurityTest runs the CLI this way too). */
    public record Run(int exit, String out, String err) {}

    public static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    private static String silentTarget() {
        return "127.0.0.1:" + silent.getLocalPort();
    }

    @Test
    void aServiceThatNeverAnswersEndsAtTheDeadlineNamingTheAddress() {
        Run chat = assertTimeoutPreemptively(
                Duration.ofSeconds(60),
                () -> run("chat", "--target", silentTarget(), "--session", "s", "--message", "hi", "--timeout", "2s"));
        assertThat(chat.exit()).as(chat.err()).isEqualTo(1);
        assertThat(chat.err())
                .contains("razorstream: " + silentTarget() + ": DEADLINE_EXCEEDED")
                .contains("no answer within 2s")
                .contains("turn-id: ")
                .contains("retry with --turn-id");
        Run session = assertTimeoutPreemptively(
                Duration.ofSeconds(60),
                () -> run("session", "--target", silentTarget(), "--session", "s", "--timeout", "1s"));
        assertThat(session.exit()).as(session.err()).isEqualTo(1);
        assertThat(session.err())
                .contains("razorstream: " + silentTarget() + ": DEADLINE_EXCEEDED")
                .contains("no answer within 1s");
    }

    @Test
    void anInvalidTargetIsAClearErrorNotAHang() {
        for (String[] args : List.of(
                new String[] {"chat", "--target", "localhost:99999", "--session", "s", "--message", "hi"},
                new String[] {"session", "--target", "localhost:99999", "--session", "s"})) {
            Run r = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> run(args));
            assertThat(r.exit()).as(r.err()).isEqualTo(1);
            assertThat(r.err())
                    .contains("--target 'localhost:99999'")
                    .contains("port must be a number from 1 to 65535");
        }
        assertThat(run("session", "--target", "localhost", "--session", "s").err())
                .contains("'localhost' is not HOST:PORT");
        assertThat(run("session", "--target", "localhost:http", "--session", "s")
                        .err())
                .contains("got 'http'");
        assertThat(ClientOptions.checkTarget("[::1]:7070")).isEqualTo("[::1]:7070");
        assertThat(ClientOptions.checkTarget("dns:///localhost:7070")).isEqualTo("dns:///localhost:7070");
    }

    @Test
    void aServiceThatIsDownIsUnavailableWithTheAddressAndAHint() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // closed again: nothing listens there
        }
        Run r = assertTimeoutPreemptively(
                Duration.ofSeconds(60),
                () -> run("chat", "--target", "127.0.0.1:" + port, "--session", "s", "--message", "hi"));
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err())
                .contains("razorstream: 127.0.0.1:" + port + ": UNAVAILABLE")
                .contains("(is the service running?");
    }

    @Test
    void aBadTimeoutIsRefused() {
        Run r = run("session", "--target", "localhost:7070", "--session", "s", "--timeout", "soon");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("'soon' is not a duration");
        assertThat(run("session", "--session", "s", "--timeout", "0s").err()).contains("not a positive duration");
        ClientOptions.DurationConverter c = new ClientOptions.DurationConverter();
        assertThat(c.convert("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(c.convert("2m")).isEqualTo(Duration.ofMinutes(2));
        assertThat(c.convert("PT1H")).isEqualTo(Duration.ofHours(1));
        assertThat(ClientOptions.format(Duration.ofSeconds(90))).isEqualTo("90s");
    }

    @Test
    void chatWithATurnIdSendsItPrintsItAndARetryGetsTheStoredReply() {
        String target = "localhost:" + fake.getPort();
        Run first = run("chat", "--target", target, "--session", "s", "--message", "hello", "--turn-id", "turn-7");
        assertThat(first.exit()).as(first.err()).isZero();
        assertThat(first.out()).isEqualTo("OK:hello" + System.lineSeparator());
        assertThat(first.err()).contains("turn-id: turn-7");
        // The retry: the fake sends no deltas for a known id, only done with the stored text; it is printed.
        Run retry = run(
                "chat", "--target", target, "--session", "s", "--message", "hello", "--turn-id", "turn-7", "--stats");
        assertThat(retry.exit()).as(retry.err()).isZero();
        assertThat(retry.out()).isEqualTo("OK:hello" + System.lineSeparator());
        assertThat(retry.err())
                .contains("turn-id: turn-7")
                .contains("[turn turn-7 (duplicate: the stored reply); 7 tokens");
        // Without --turn-id a random one is used and printed.
        Run random = run("chat", "--target", target, "--session", "s", "--message", "x");
        assertThat(random.err()).containsPattern("turn-id: [0-9a-f-]{36}");
        Run interactiveWithId = run("chat", "--target", target, "--session", "s", "--turn-id", "t");
        assertThat(interactiveWithId.exit()).isEqualTo(1);
        assertThat(interactiveWithId.err()).contains("--turn-id needs --message");
    }

    @Test
    void sessionPrintsJsonOrTheErrorWithTheAddress() {
        String target = "localhost:" + fake.getPort();
        Run ok = run("session", "--target", target, "--session", "known");
        assertThat(ok.exit()).as(ok.err()).isZero();
        assertThat(ok.out())
                .contains("\"sessionId\": \"known\"")
                .contains("\"tokens\": \"42\""); // int64: a JSON string
        Run missing = run("session", "--target", target, "--session", "nobody");
        assertThat(missing.exit()).isEqualTo(1);
        assertThat(missing.err().strip()).isEqualTo("razorstream: " + target + ": NOT_FOUND: no session nobody");
    }

    @Test
    void turnEventPrintsTheTurnIdItWrote(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("turn.bin");
        Run r = run(
                "turn-event", "--session", "demo", "--text", "Hello #", "--turn-id", "t-42", "--out", file.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("turn-id: t-42");
        assertThat(TurnEvent.parseFrom(Files.readAllBytes(file)).getTurnId()).isEqualTo("t-42");
        Run random = run("turn-event", "--session", "demo", "--text", "Hello #", "--out", file.toString());
        assertThat(random.err())
                .contains("turn-id: "
                        + TurnEvent.parseFrom(Files.readAllBytes(file)).getTurnId());
        assertThat(run("turn-event", "--session", "demo", "--rollback", "2", "--out", file.toString())
                        .exit())
                .isZero();
        assertThat(TurnEvent.parseFrom(Files.readAllBytes(file)).getRollbackTurns())
                .isEqualTo(2);
        assertThat(run("turn-event", "--session", "demo", "--regenerate", "--out", file.toString())
                        .exit())
                .isZero();
        TurnEvent regenerate = TurnEvent.parseFrom(Files.readAllBytes(file));
        assertThat(regenerate.getRegenerate() && regenerate.getReply()).isTrue();
        Run both = run("turn-event", "--session", "demo", "--rollback", "1", "--text", "x", "--out", file.toString());
        assertThat(both.exit()).isNotZero();
        assertThat(both.err()).contains("--rollback takes no --text");
    }

    /** An agent speaking Kafka from the shell: a raw prompt, a JSON reply by schema, log probabilities. */
    @Test
    void turnEventCarriesTheReplysFormat(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("turn.bin"), schema = dir.resolve("schema.json");
        Files.writeString(schema, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}");
        Run r = run(
                "turn-event",
                "--session",
                "demo",
                "--text",
                "<s>[INST] hi [/INST]",
                "--raw",
                "--reply",
                "--json-schema",
                schema.toString(),
                "--logprobs",
                "3",
                "--out",
                file.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        TurnEvent e = TurnEvent.parseFrom(Files.readAllBytes(file));
        assertThat(e.getRole()).isEqualTo(io.razorstream.proto.v1.Role.ROLE_RAW);
        assertThat(e.getParams().getJsonSchema()).isEqualTo(Files.readString(schema));
        assertThat(e.getParams().getLogprobs()).isTrue();
        assertThat(e.getParams().getTopLogprobs()).isEqualTo(3);
        Files.writeString(schema, "{\"type\":\"string\",\"pattern\":\"a+\"}");
        Run bad = run(
                "turn-event",
                "--session",
                "demo",
                "--text",
                "x",
                "--reply",
                "--json-schema",
                schema.toString(),
                "--out",
                file.toString());
        assertThat(bad.exit()).isNotZero();
        assertThat(bad.err()).contains("'pattern'");
    }

    /**
     * The service's commands' help at 80 columns and at 100 (the width without a terminal): no word broken over two
     * lines. (picocli wraps where the JDK's line BreakIterator allows, which includes after '.' and ':', e.g. turn.|bin
     * or HOST:|PORT.) Every command's help: no format warnings (a stray %).
     */
    @Test
    void helpTextsDoNotBreakWords() {
        // picocli reports a description it cannot format (a stray %) on System.err
        ByteArrayOutputStream warnings = new ByteArrayOutputStream();
        PrintStream stderr = System.err;
        System.setErr(new PrintStream(warnings, true, StandardCharsets.UTF_8));
        try {
            checkHelpTexts();
        } finally {
            System.setErr(stderr);
        }
        assertThat(warnings.toString(StandardCharsets.UTF_8)).isEmpty();
    }

    private static void checkHelpTexts() {
        List<String> broken = new ArrayList<>();
        CommandLine root = Main.commandLine();
        for (CommandLine cl : root.getSubcommands().values()) usage(cl, 100); // renders every description
        for (String name : List.of(
                "serve", "chat", "session", "rollback", "turn-event", "reply-event", "bench-store", "bench-service")) {
            CommandLine cl = root.getSubcommands().get(name);
            Set<String> whole = tokens(usage(cl, 2000));
            for (int width : new int[] {80, 100}) {
                for (String t : tokens(usage(cl, width))) {
                    if (!whole.contains(t)) broken.add(name + " at " + width + ": '" + t + "'");
                }
            }
        }
        assertThat(broken).isEmpty();
    }

    private static String usage(CommandLine cl, int width) {
        cl.getCommandSpec().usageMessage().autoWidth(false).width(width);
        return cl.getUsageMessage(CommandLine.Help.Ansi.OFF);
    }

    private static Set<String> tokens(String text) {
        return new HashSet<>(List.of(text.trim().split("\\s+")));
    }

    /**
     * bin/razorstream starts client commands without jdk.incubator.vector (no incubator warning): they must not need
     * it. A child JVM on this test's class path, as the launcher would start it.
     */
    @Test
    void clientCommandsRunWithoutTheVectorModule() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("java.class.path");
        String[] help = child(java, cp, "--help");
        assertThat(help[0]).as(help[1]).isEqualTo("0");
        assertThat(help[1]).contains("Usage: razorstream").doesNotContain("WARNING");
        String[] chat = child(
                java, cp, "chat", "--target", silentTarget(), "--session", "s", "--message", "hi", "--timeout", "2s");
        assertThat(chat[0]).as(chat[1]).isEqualTo("1");
        assertThat(chat[1])
                .contains(silentTarget() + ": DEADLINE_EXCEEDED")
                .doesNotContain("WARNING")
                .doesNotContain("NoClassDefFoundError")
                .doesNotContain("Exception");
        String[] session = child(java, cp, "session", "--target", "localhost:" + fake.getPort(), "--session", "known");
        assertThat(session[0]).as(session[1]).isEqualTo("0");
        assertThat(session[1]).contains("\"tokens\": \"42\"").doesNotContain("WARNING");
    }

    /** An interactive chat reports a refused turn (nothing to regenerate) and goes on with the next line. */
    @Test
    void anInteractiveChatGoesOnAfterARefusedTurn() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String[] r = childWithInput(
                "/regenerate\nhello\n",
                java,
                System.getProperty("java.class.path"),
                "chat",
                "--target",
                "localhost:" + fake.getPort(),
                "--session",
                "s");
        assertThat(r[0]).as(r[1]).isEqualTo("0");
        assertThat(r[1])
                .contains("FAILED_PRECONDITION: nothing to regenerate here")
                .contains("OK:hello");
    }

    private static String[] child(String java, String cp, String... args) throws Exception {
        return childWithInput("", java, cp, args);
    }

    private static String[] childWithInput(String input, String java, String cp, String... args) throws Exception {
        List<String> cmd =
                new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp", cp, Main.class.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("still running after 60 s: " + String.join(" ", args));
        }
        return new String[] {
            String.valueOf(p.exitValue()), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
        };
    }
}
