package io.razorstream.app;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.razorstream.app.broker.EmbeddedBroker;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.AppendTurnsResponse;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.SessionInfo;
import io.razorstream.proto.v1.Turn;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Chaos: the service runs as a child process ({@code serve}: embedded broker, synthetic model) and is killed with
 * SIGKILL several times while retrying clients send their turns (Chat and AppendTurns, each with a client-chosen turn
 * id, resent with the same id until it succeeds); after each kill it is started again on the same data dir, as a
 * supervisor would.
 *
 * <p>What must hold, exactly: no turn lost and none applied twice. Greedy decoding is deterministic, so the same turns
 * sent uninterrupted to fresh sessions (the {@code ref-*} sessions, sent to the first incarnation before any kill) give
 * the reference: every chaos turn's final reply text and cache size equal the reference's, GetSession's token count and
 * remembered turns equal, and the replies topic (read_committed) holds exactly one non-duplicate ReplyEvent per turn
 * id, equal field by field to the reference's. Also measured and bounded: kill -> health SERVING and kill -> first turn
 * answered, per restart ({@link #RESTART_BOUND}, generous; tighten it as restarts get faster).
 *
 * <p>{@code -Dchaos.seed=N} and {@code -Dchaos.kills=N} vary the run (kill moments and texts follow the seed).
 */
@Tag("chaos")
class ChaosTest {
    /**
     * SIGKILL -> gRPC health SERVING again (process start, embedded broker restart, rebalance, restore). Target: 15 s.
     */
    static final Duration RESTART_BOUND =
            Duration.ofSeconds(45); // the target is 15 s; this leaves room for a loaded CI machine
    /** The last restart also lost the state directory (restored from the changelogs; target 30 s). */
    static final Duration STATE_LOSS_RESTART_BOUND = Duration.ofSeconds(75);
    /** SIGKILL -> the first turn answered after the restart. */
    static final Duration FIRST_TURN_BOUND = Duration.ofSeconds(105);
    /** The first start of a fresh data dir (writes and profiles the synthetic model, formats the broker). */
    static final Duration FIRST_START_LIMIT = Duration.ofMinutes(3);
    /** How long a restart is waited for at all (past RESTART_BOUND, so that slow restarts are still measured). */
    static final Duration RESTART_LIMIT = RESTART_BOUND.plusSeconds(60);

    static final Duration CALL_DEADLINE = Duration.ofSeconds(20);
    static final long RETRY_PAUSE_MS = 250;

    static final long SEED = Long.getLong("chaos.seed", 20_261_201L);
    static final int KILLS = Integer.getInteger("chaos.kills", 3);
    /** Sessions in flight at once (more than a partition's share: turns of one partition run at the same time). */
    static final int SESSIONS = 16;

    static final int TURNS = 12;
    static final String[] KEYS = keys(SESSIONS);

    /** Every process this class started or saw as a child of one, killed in {@link #killEverything}. */
    static final Set<ProcessHandle> SPAWNED = ConcurrentHashMap.newKeySet();

    static final List<Path> DATA_DIRS = new CopyOnWriteArrayList<>();
    static final long T0 = System.nanoTime();

    @AfterAll
    static void killEverything() {
        List<ProcessHandle> all = new ArrayList<>();
        for (ProcessHandle h : SPAWNED) {
            if (h.isAlive()) all.addAll(h.descendants().toList());
            all.add(h);
        }
        for (Path dir : DATA_DIRS) brokerOf(dir).ifPresent(all::add);
        // the services first (so none of them starts or stops a broker meanwhile), then whatever they left
        for (ProcessHandle h : all) if (SPAWNED.contains(h)) h.destroyForcibly();
        for (ProcessHandle h : all) h.destroyForcibly();
        for (ProcessHandle h : all) {
            try {
                h.onExit().get(15, TimeUnit.SECONDS);
            } catch (Exception e) {
                System.out.println("ChaosTest: process " + h.pid() + " did not exit: " + e);
            }
        }
        SPAWNED.clear();
    }

    /**
     * The broker a service left running in {@code dataDir}, checked to be that data dir's as EmbeddedBroker checks it.
     */
    static Optional<ProcessHandle> brokerOf(Path dataDir) {
        Path pidFile = dataDir.resolve("kafka").resolve("broker.pid");
        try {
            long pid = Long.parseLong(Files.readString(pidFile).trim());
            Optional<ProcessHandle> h = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
            if (h.isEmpty()) return h;
            // /proc has the whole command line (the JDK's view of it may be cut short by the long class path)
            String cmd = new String(
                    Files.readAllBytes(Path.of("/proc", String.valueOf(pid), "cmdline")), StandardCharsets.UTF_8);
            return cmd.contains("kafka.Kafka") && cmd.contains(dataDir.toString()) ? h : Optional.empty();
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    static String at() {
        return String.format(Locale.ROOT, "[%6.1fs]", (System.nanoTime() - T0) / 1e9);
    }

    static double secs(long nanos) {
        return nanos / 1e9;
    }

    // ---- the workload ----

    /**
     * One client step: a Chat (one text) or an AppendTurns of one or two texts, whose turn ids are {@code turnId.0},
     * {@code turnId.1}.
     */
    record Step(String turnId, boolean chat, List<String> texts, int maxTokens) {
        List<String> turnIds() {
            if (chat) return List.of(turnId);
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < texts.size(); i++) ids.add(turnId + "." + i);
            return ids;
        }
    }

    /** A code to plant in each session, like "K7Q2": letter, digit, letter, digit, following the seed. */
    static String[] keys(int n) {
        Random r = new Random(SEED);
        String[] keys = new String[n];
        for (int i = 0; i < n; i++) {
            keys[i] = "" + (char) ('A' + r.nextInt(26)) + (char) ('0' + r.nextInt(10)) + (char) ('A' + r.nextInt(26))
                    + (char) ('0' + r.nextInt(10));
        }
        return keys;
    }

    /** The steps of session {@code s}: the same for its reference and its chaos run. */
    static List<Step> workload(int s) {
        Random r = new Random(SEED * 31 + s);
        List<Step> steps = new ArrayList<>();
        steps.add(new Step(
                "t00", true, List.of("Note this. The code is #" + KEYS[s] + ". " + Services.filler(r, 120)), 4));
        for (int i = 1; i < TURNS; i++) {
            String id = String.format(Locale.ROOT, "t%02d", i);
            if (i % 3 == 1) {
                List<String> texts = new ArrayList<>();
                for (int j = 0, n = 1 + r.nextInt(2); j < n; j++) texts.add(Services.filler(r, 50 + r.nextInt(60)));
                steps.add(new Step(id, false, texts, 0));
            } else if (r.nextBoolean()) {
                steps.add(new Step(id, true, List.of(" Remember the code #"), 6 + r.nextInt(4)));
            } else {
                steps.add(new Step(id, true, List.of(Services.filler(r, 20 + r.nextInt(40))), 8 + r.nextInt(8)));
            }
        }
        return steps;
    }

    // ---- the service as a child process ----

    static final class ServiceProcess {
        final Process process;
        final long startedNanos;
        final long startedMillis; // wall clock, to place the log's timestamps
        final Path log;
        final int port;
        final List<ProcessHandle> children = new CopyOnWriteArrayList<>();

        private ServiceProcess(Process process, long startedNanos, long startedMillis, Path log, int port) {
            this.process = process;
            this.startedNanos = startedNanos;
            this.startedMillis = startedMillis;
            this.log = log;
            this.port = port;
        }

        static ServiceProcess start(Path dataDir, int port, Path log) throws IOException {
            List<String> cmd = List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--add-modules",
                    "jdk.incubator.vector",
                    "--enable-native-access=ALL-UNNAMED",
                    "-Xmx1g",
                    "-cp",
                    System.getProperty("java.class.path"),
                    "io.razorstream.app.cli.Main",
                    "serve",
                    "--data-dir",
                    dataDir.toString(),
                    "--grpc-port",
                    String.valueOf(port),
                    "--set",
                    "http.port=0",
                    "--set",
                    "engine.threads=2",
                    "--set",
                    "stream.threads=2",
                    "--set",
                    "turn.timeout=PT1M");
            ProcessBuilder pb = new ProcessBuilder(cmd)
                    .directory(dataDir.getParent().toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            pb.environment().keySet().removeIf(k -> k.startsWith("RAZORSTREAM_")); // only the flags above count
            long started = System.nanoTime(), startedMillis = System.currentTimeMillis();
            Process p = pb.start();
            SPAWNED.add(p.toHandle());
            return new ServiceProcess(p, started, startedMillis, log, port);
        }

        /**
         * Polls grpc.health.v1 until SERVING; returns when it was first seen. Fails if the process exits or the limit
         * passes.
         */
        long awaitServing(Duration limit) throws Exception {
            long deadline = startedNanos + limit.toNanos();
            ManagedChannel ch = ManagedChannelBuilder.forAddress("localhost", port)
                    .usePlaintext()
                    .build();
            try {
                HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(ch);
                while (true) {
                    try {
                        if (health.withDeadlineAfter(2, TimeUnit.SECONDS)
                                        .check(HealthCheckRequest.getDefaultInstance())
                                        .getStatus()
                                == HealthCheckResponse.ServingStatus.SERVING) {
                            long now = System.nanoTime();
                            children.addAll(
                                    process.descendants().toList()); // the broker, which outlives a SIGKILLed service
                            SPAWNED.addAll(children);
                            return now;
                        }
                    } catch (StatusRuntimeException e) {
                        ch.resetConnectBackoff();
                    }
                    if (!process.isAlive())
                        throw new AssertionError("the service exited with status " + process.exitValue()
                                + " before serving; see " + log);
                    if (System.nanoTime() > deadline)
                        throw new AssertionError(
                                "the service was not SERVING " + limit.toSeconds() + " s after its start; see " + log);
                    Thread.sleep(100);
                }
            } finally {
                ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    // ---- kills ----

    enum Moment {
        /** just after the first streamed token of a Chat: the turn is being decoded, nothing committed */
        MID_CHAT,
        /** just after a Chat's final reply arrived: the reply is sent before the transaction commits */
        AFTER_REPLY,
        /** a few ms after an AppendTurns was sent */
        MID_APPEND
    }

    record Kill(int number, Moment moment, String what, long nanos) {}

    /** Fires the armed kill at the first matching client event once enough turns have completed. */
    static final class KillSwitch {
        final AtomicInteger completed = new AtomicInteger();
        final LinkedBlockingQueue<Kill> fired = new LinkedBlockingQueue<>();
        final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "chaos-kill-timer");
            t.setDaemon(true);
            return t;
        });
        volatile ServiceProcess target;
        private Moment moment;
        private int threshold;
        private long delayMs;
        private int number;
        private boolean armed;

        synchronized void arm(int number, Moment moment, int threshold, long delayMs) {
            this.number = number;
            this.moment = moment;
            this.threshold = threshold;
            this.delayMs = delayMs;
            this.armed = true;
        }

        void on(Moment m, String what) {
            int n;
            long delay;
            Moment which;
            synchronized (this) {
                if (!armed || m != moment || completed.get() < threshold) return;
                armed = false;
                n = number;
                delay = delayMs;
                which = moment;
            }
            ServiceProcess victim = target;
            Runnable kill = () -> {
                long now = System.nanoTime();
                victim.process.destroyForcibly(); // SIGKILL on Linux
                fired.add(new Kill(n, which, what + (delay > 0 ? " +" + delay + " ms" : ""), now));
            };
            if (delay == 0) kill.run();
            else timer.schedule(kill, delay, TimeUnit.MILLISECONDS);
        }
    }

    // ---- the retrying client ----

    /**
     * A step's final answer: for a Chat its reply, for AppendTurns the appended count; the cache after it either way.
     */
    record Answer(
            String session,
            Step step,
            String text,
            long cacheTokens,
            boolean duplicate,
            int appended,
            int attempts,
            long doneNanos) {}

    static final class Client {
        final String session;
        final int port;
        final KillSwitch kills; // null: no kills
        final long deadline;
        final Map<String, AtomicInteger> failures;
        final List<Long> successes;
        ManagedChannel channel;

        Client(
                String session,
                int port,
                KillSwitch kills,
                long deadline,
                Map<String, AtomicInteger> failures,
                List<Long> successes) {
            this.session = session;
            this.port = port;
            this.kills = kills;
            this.deadline = deadline;
            this.failures = failures;
            this.successes = successes;
        }

        List<Answer> run(List<Step> steps) throws InterruptedException {
            channel = ManagedChannelBuilder.forAddress("localhost", port)
                    .usePlaintext()
                    .build();
            try {
                List<Answer> answers = new ArrayList<>();
                for (Step s : steps) answers.add(send(s));
                return answers;
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }

        /** Sends the step until it succeeds, with the same turn id(s) every time. */
        Answer send(Step step) throws InterruptedException {
            for (int attempt = 1; ; attempt++) {
                if (System.nanoTime() > deadline)
                    throw new AssertionError("turn " + session + "/" + step.turnId() + " not answered in time ("
                            + (attempt - 1) + " attempts)");
                try {
                    Answer a = once(step, attempt);
                    successes.add(a.doneNanos());
                    if (kills != null) kills.completed.incrementAndGet();
                    return a;
                } catch (StatusRuntimeException e) {
                    Status.Code code = e.getStatus().getCode();
                    switch (code) {
                        case INVALID_ARGUMENT,
                                NOT_FOUND,
                                DATA_LOSS,
                                FAILED_PRECONDITION,
                                UNIMPLEMENTED,
                                OUT_OF_RANGE,
                                PERMISSION_DENIED,
                                UNAUTHENTICATED ->
                            throw new AssertionError(
                                    "turn " + session + "/" + step.turnId() + " failed for good: " + e.getStatus(), e);
                        default -> {
                            String desc = e.getStatus().getDescription();
                            String kind = code
                                    + (code == Status.Code.UNAVAILABLE || desc == null
                                            ? ""
                                            : " (" + desc.substring(0, Math.min(80, desc.length())) + ")");
                            failures.computeIfAbsent(kind, k -> new AtomicInteger())
                                    .incrementAndGet();
                        }
                    }
                    // a fresh channel: the old one may be in reconnect backoff after the kill
                    channel.shutdownNow();
                    channel = ManagedChannelBuilder.forAddress("localhost", port)
                            .usePlaintext()
                            .build();
                    Thread.sleep(RETRY_PAUSE_MS);
                }
            }
        }

        private Answer once(Step step, int attempt) {
            MemoryServiceGrpc.MemoryServiceBlockingStub stub = MemoryServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            String what = session + "/" + step.turnId();
            if (step.chat()) {
                Iterator<ChatResponse> it = stub.chat(ChatRequest.newBuilder()
                        .setSessionId(session)
                        .setTurnId(step.turnId())
                        .setText(step.texts().getFirst())
                        .setParams(GenerationParams.newBuilder().setMaxTokens(step.maxTokens()))
                        .build());
                ChatDone done = null;
                boolean first = true;
                while (it.hasNext()) {
                    ChatResponse r = it.next();
                    if (r.hasDelta() && first) {
                        first = false;
                        if (kills != null) kills.on(Moment.MID_CHAT, what + " after its first streamed token");
                    } else if (r.hasDone()) {
                        done = r.getDone();
                    }
                }
                if (done == null) throw new AssertionError("Chat " + what + " ended without its done message");
                long now = System.nanoTime();
                if (kills != null) kills.on(Moment.AFTER_REPLY, what + " just after its reply");
                return new Answer(
                        session,
                        step,
                        done.getText(),
                        done.getCache().getTokens(),
                        done.getDuplicate(),
                        0,
                        attempt,
                        now);
            }
            AppendTurnsRequest.Builder req = AppendTurnsRequest.newBuilder().setSessionId(session);
            List<String> ids = step.turnIds();
            for (int i = 0; i < ids.size(); i++)
                req.addTurns(Turn.newBuilder()
                        .setTurnId(ids.get(i))
                        .setText(step.texts().get(i)));
            if (kills != null) kills.on(Moment.MID_APPEND, "AppendTurns " + what + " (" + ids.size() + " turns)");
            AppendTurnsResponse r = stub.appendTurns(req.build());
            return new Answer(
                    session,
                    step,
                    "",
                    r.getCache().getTokens(),
                    r.getAppended() < ids.size(),
                    r.getAppended(),
                    attempt,
                    System.nanoTime());
        }
    }

    /** Starts one client per session, concurrently. */
    static Map<String, Future<List<Answer>>> runClients(
            ExecutorService pool,
            List<String> sessions,
            int port,
            KillSwitch kills,
            long deadline,
            Map<String, AtomicInteger> failures,
            List<Long> successes) {
        Map<String, Future<List<Answer>>> futures = new LinkedHashMap<>();
        for (int s = 0; s < sessions.size(); s++) {
            List<Step> steps = workload(s);
            Client c = new Client(sessions.get(s), port, kills, deadline, failures, successes);
            futures.put(sessions.get(s), pool.submit(() -> c.run(steps)));
        }
        return futures;
    }

    static Map<String, List<Answer>> await(Map<String, Future<List<Answer>>> futures, long deadline) throws Exception {
        Map<String, List<Answer>> out = new LinkedHashMap<>();
        for (var e : futures.entrySet()) {
            long left = Math.max(1, deadline - System.nanoTime());
            try {
                out.put(e.getKey(), e.getValue().get(left, TimeUnit.NANOSECONDS));
            } catch (ExecutionException x) {
                throw x.getCause() instanceof AssertionError a
                        ? a
                        : new AssertionError("client of " + e.getKey() + " failed", x.getCause());
            } catch (TimeoutException x) {
                throw new AssertionError("client of " + e.getKey() + " did not finish in time");
            }
        }
        return out;
    }

    // ---- the test ----

    record Restart(Kill kill, long exitedNanos, ServiceProcess next, long servingNanos) {
        long killToServing() {
            return servingNanos - kill.nanos();
        }

        long startToServing() {
            return servingNanos - next.startedNanos;
        }
    }

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES) // only so that it can never hang: every wait inside has its own limit
    void killedWithSigkillDuringTurnsItLosesNoTurnAndDoublesNone(@TempDir Path tmp) throws Exception {
        Path dataDir = tmp.resolve("data");
        DATA_DIRS.add(dataDir);
        int port = EmbeddedBroker.freePort();
        List<Path> logs = new ArrayList<>();
        List<Restart> restarts = new ArrayList<>();
        Map<String, AtomicInteger> failures = new ConcurrentHashMap<>();
        List<Long> successes = Collections.synchronizedList(new ArrayList<>());
        KillSwitch kills = new KillSwitch();
        ExecutorService pool = Executors.newFixedThreadPool(SESSIONS, r -> {
            Thread t = new Thread(r, "chaos-client");
            t.setDaemon(true);
            return t;
        });
        Random chaos = new Random(SEED);
        List<String> refSessions = new ArrayList<>(), chaosSessions = new ArrayList<>();
        for (int s = 0; s < SESSIONS; s++) {
            refSessions.add("ref-" + s);
            chaosSessions.add("chaos-" + s);
        }
        List<String> report = new ArrayList<>();
        boolean failed = false;
        try {
            System.out.printf(
                    "ChaosTest: seed %d, %d sessions x %d steps, %d kills, gRPC port %d, data in %s%n",
                    SEED, SESSIONS, TURNS, KILLS, port, dataDir);
            Path log0 = tmp.resolve("service-0.log");
            logs.add(log0);
            ServiceProcess service = ServiceProcess.start(dataDir, port, log0);
            long serving0 = service.awaitServing(FIRST_START_LIMIT);
            report.add(String.format(
                    Locale.ROOT,
                    "first start: SERVING %.1f s after the process start",
                    secs(serving0 - service.startedNanos)));
            System.out.println(at() + " " + report.getLast());
            report.add("           from its log: " + phases(service));

            // 1. The reference: the same steps, uninterrupted, on fresh sessions.
            long refStart = System.nanoTime();
            long refDeadline = refStart + Duration.ofMinutes(2).toNanos();
            Map<String, List<Answer>> reference =
                    await(runClients(pool, refSessions, port, null, refDeadline, failures, successes), refDeadline);
            Map<String, SessionInfo> refInfo = sessionInfos(port, refSessions);
            for (int s = 0;
                    s < SESSIONS;
                    s++) { // not a vacuous reference: the model answers, and recalls the planted code
                List<String> recalls = reference.get(refSessions.get(s)).stream()
                        .filter(a -> a.step().texts().getFirst().equals(" Remember the code #"))
                        .map(Answer::text)
                        .toList();
                assertThat(reference.get(refSessions.get(s)).getFirst().text())
                        .as("first reply of %s", refSessions.get(s))
                        .isNotEmpty();
                String key = KEYS[s];
                if (!recalls.isEmpty())
                    assertThat(recalls)
                            .as("%s recalls %s", refSessions.get(s), key)
                            .anyMatch(t -> t.startsWith(key));
            }
            report.add("reference replies of " + refSessions.getFirst() + ": "
                    + reference.get(refSessions.getFirst()).stream()
                            .map(a -> a.step().chat() ? "'" + a.text() + "'" : "(append)")
                            .toList());
            report.add(String.format(
                    Locale.ROOT,
                    "reference run: %.1f s for %d steps",
                    secs(System.nanoTime() - refStart),
                    SESSIONS * TURNS));
            System.out.println(at() + " " + report.getLast() + (failures.isEmpty() ? "" : ", retried: " + failures));
            failures.clear();

            // 2. The chaos run: the same steps on other sessions, with SIGKILLs and restarts in between.
            kills.target = service;
            long chaosStart = System.nanoTime();
            long clientDeadline = chaosStart + Duration.ofMinutes(7).toNanos();
            Map<String, Future<List<Answer>>> chaosClients =
                    runClients(pool, chaosSessions, port, kills, clientDeadline, failures, successes);
            List<Moment> moments = new ArrayList<>();
            for (int k = 0; k < KILLS; k++) moments.add(Moment.values()[k % Moment.values().length]);
            Collections.shuffle(moments, chaos);
            for (int k = 1; k <= KILLS; k++) {
                Moment m = moments.get(k - 1);
                int threshold = kills.completed.get() + 2 + chaos.nextInt(4);
                long delay = m == Moment.MID_APPEND ? 1 + chaos.nextInt(150) : 0;
                kills.arm(k, m, threshold, delay);
                Kill kill = null;
                while (kill == null) {
                    kill = kills.fired.poll(200, TimeUnit.MILLISECONDS);
                    if (kill == null && chaosClients.values().stream().allMatch(Future::isDone)) {
                        await(chaosClients, clientDeadline); // a client's failure first, if there was one
                        throw new AssertionError("the clients finished before kill #" + k + " (" + m + " after "
                                + threshold + " answered steps)");
                    }
                    if (kill == null && System.nanoTime() > clientDeadline)
                        throw new AssertionError("kill #" + k + " never fired");
                }
                System.out.println(at() + " kill #" + k + " (SIGKILL, " + m + "): " + kill.what());
                service.process.onExit().get(30, TimeUnit.SECONDS);
                long exited = System.nanoTime();
                ServiceProcess killed = service;
                Path logK = tmp.resolve("service-" + k + ".log");
                logs.add(logK);
                if (k == KILLS) { // the last kill also loses the state directory: the restart must fence the old
                    // transaction itself
                    Services.deleteTree(dataDir.resolve("streams"));
                    System.out.println(at() + " kill #" + k + ": state directory deleted before the restart");
                }
                service = ServiceProcess.start(dataDir, port, logK); // at once, as a supervisor would
                kills.target = service;
                long serving = service.awaitServing(RESTART_LIMIT);
                Restart r = new Restart(kill, exited, service, serving);
                restarts.add(r);
                String brokerPid =
                        Files.readString(dataDir.resolve("kafka/broker.pid")).trim();
                for (ProcessHandle orphan : killed.children) {
                    if (orphan.isAlive()) {
                        assertThat(String.valueOf(orphan.pid()))
                                .as("a broker the killed service left running is taken over by the restart")
                                .isEqualTo(brokerPid);
                    }
                }
                System.out.printf(
                        Locale.ROOT,
                        "%s restart #%d SERVING: %.1f s after the kill (%.1f s after the process start; %s)%n",
                        at(),
                        k,
                        secs(r.killToServing()),
                        secs(r.startToServing()),
                        phases(service));
            }
            Map<String, List<Answer>> answers = await(chaosClients, clientDeadline);
            report.add(String.format(Locale.ROOT, "chaos run: %.1f s", secs(System.nanoTime() - chaosStart)));
            List<Long> done = new ArrayList<>(successes);
            Collections.sort(done);
            long[] firstTurn = new long[restarts.size()];
            for (int i = 0; i < restarts.size(); i++) {
                Restart r = restarts.get(i);
                firstTurn[i] = done.stream()
                        .filter(t -> t > r.next().startedNanos)
                        .findFirst()
                        .map(t -> t - r.kill().nanos())
                        .orElse(Long.MAX_VALUE);
                report.add(String.format(
                        Locale.ROOT,
                        "kill #%d %-11s kill->exit %.2f s, start->SERVING %.1f s, "
                                + "kill->SERVING %.1f s, kill->first turn answered %.1f s   " + "[%s]",
                        r.kill().number(),
                        r.kill().moment(),
                        secs(r.exitedNanos() - r.kill().nanos()),
                        secs(r.startToServing()),
                        secs(r.killToServing()),
                        secs(firstTurn[i]),
                        r.kill().what()));
                report.add("           from its log: " + phases(r.next()));
            }
            report.add("client retries by status: "
                    + new TreeMap<>(failures.entrySet().stream()
                            .collect(Collectors.toMap(
                                    Map.Entry::getKey, e -> e.getValue().get()))));
            List<String> dups = new ArrayList<>();
            answers.values()
                    .forEach(l -> l.forEach(a -> {
                        if (a.duplicate())
                            dups.add(a.session() + "/" + a.step().turnId()
                                    + (a.step().chat()
                                            ? ""
                                            : " (appended " + a.appended() + " of "
                                                    + a.step().texts().size() + ")"));
                    }));
            report.add("steps whose final answer was (partly) a stored reply, i.e. committed before a kill: " + dups);

            // 3. What must hold.
            Map<String, SessionInfo> chaosInfo = sessionInfos(port, chaosSessions);
            // The last replies reach the client over gRPC before their transaction commits (within the commit
            // interval), so the topic is read again until every step's committed reply is there.
            int expectedReplies = 0;
            for (int s = 0; s < SESSIONS; s++)
                expectedReplies += 2 * workload(s).size();
            Map<String, List<ReplyEvent>> replies = committedReplies(dataDir, expectedReplies);
            for (int s = 0; s < SESSIONS; s++) {
                String ref = refSessions.get(s), cha = chaosSessions.get(s);
                List<Answer> want = reference.get(ref), got = answers.get(cha);
                assertThat(got).as("answers of %s", cha).hasSize(TURNS);
                for (int i = 0; i < TURNS; i++) {
                    assertThat(got.get(i).text())
                            .as(
                                    "reply of %s/%s vs the reference",
                                    cha, want.get(i).step().turnId())
                            .isEqualTo(want.get(i).text());
                    assertThat(got.get(i).cacheTokens())
                            .as(
                                    "session tokens after %s/%s vs the reference",
                                    cha, want.get(i).step().turnId())
                            .isEqualTo(want.get(i).cacheTokens());
                }
                List<String> ids = workload(s).stream()
                        .flatMap(st -> st.turnIds().stream())
                        .toList();
                assertThat(refInfo.get(ref).getTurnsRemembered())
                        .as("turns remembered by %s", ref)
                        .isEqualTo(ids.size());
                assertThat(chaosInfo.get(cha).getTurnsRemembered())
                        .as("turns remembered by %s", cha)
                        .isEqualTo(ids.size());
                assertThat(chaosInfo.get(cha).getCache())
                        .as("GetSession(%s) vs GetSession(%s)", cha, ref)
                        .isEqualTo(refInfo.get(ref).getCache());
                assertThat(sessionInfos(port, List.of(ref)).get(ref))
                        .as("%s after the kills", ref)
                        .isEqualTo(refInfo.get(ref));
                // exactly-once: one committed non-duplicate reply per step (a Chat's turn id; an AppendTurns batch with
                // all its
                // turns applied at once), the same as the reference's
                List<String> refFirst = firstReplies(replies.get(ref)), chaosFirst = firstReplies(replies.get(cha));
                List<String> steps = workload(s).stream()
                        .map(st -> st.chat()
                                ? st.turnId()
                                : "batch of " + st.turnIds().size())
                        .toList();
                List<String> applied = replies.get(cha).stream()
                        .filter(e -> !e.getDuplicate())
                        .map(e ->
                                e.getTurnId().startsWith("batch-") ? "batch of " + e.getTurnsApplied() : e.getTurnId())
                        .toList();
                assertThat(applied)
                        .as("steps of %s's non-duplicate replies (0 lost, 0 doubled)", cha)
                        .containsExactlyElementsOf(steps);
                assertThat(chaosFirst)
                        .as("%s's non-duplicate replies on the replies topic vs %s's", cha, ref)
                        .containsExactlyElementsOf(refFirst);
            }
            int turnIds = 0;
            for (int s = 0; s < SESSIONS; s++)
                turnIds +=
                        workload(s).stream().mapToInt(st -> st.turnIds().size()).sum();
            long dupEvents = chaosSessions.stream()
                    .mapToLong(c -> replies.getOrDefault(c, List.of()).stream()
                            .filter(ReplyEvent::getDuplicate)
                            .count())
                    .sum();
            report.add("duplicate ReplyEvents on the replies topic (a re-sent turn id recognised, nothing applied): "
                    + dupEvents);
            report.add(String.format(
                    Locale.ROOT,
                    "checked: %d turn ids in %d sessions: 0 lost, 0 doubled, "
                            + "replies and token counts equal to the reference (%s)",
                    turnIds,
                    SESSIONS,
                    chaosSessions.stream()
                            .map(c -> c + "=" + chaosInfo.get(c).getCache().getTokens() + " tokens")
                            .collect(Collectors.joining(", "))));
            printReport(report);

            assertThat(restarts).as("restarts").hasSize(KILLS);
            for (int i = 0; i < restarts.size(); i++) {
                Duration bound = i == restarts.size() - 1 ? STATE_LOSS_RESTART_BOUND : RESTART_BOUND;
                assertThat(Duration.ofNanos(restarts.get(i).killToServing()))
                        .as("kill #%d -> SERVING (bound %s)", i + 1, bound)
                        .isLessThanOrEqualTo(bound);
                assertThat(Duration.ofNanos(firstTurn[i]))
                        .as("kill #%d -> first turn answered (bound FIRST_TURN_BOUND)", i + 1)
                        .isLessThanOrEqualTo(FIRST_TURN_BOUND);
            }
        } catch (Throwable t) {
            printReport(report);
            for (int i = 0; i < restarts.size(); i++) {
                Restart r = restarts.get(i);
                System.out.printf(
                        Locale.ROOT,
                        "ChaosTest: kill #%d %s: kill->SERVING %.1f s (start->SERVING %.1f s) [%s]%n",
                        r.kill().number(),
                        r.kill().moment(),
                        secs(r.killToServing()),
                        secs(r.startToServing()),
                        r.kill().what());
            }
            for (Path log : logs) printTail(log, 60);
            printTail(dataDir.resolve("kafka").resolve("broker.log"), 30);
            failed = true;
            throw t;
        } finally {
            pool.shutdownNow();
            kills.timer.shutdownNow();
            killEverything();
            if (failed || Boolean.getBoolean("chaos.keepLogs")) keepLogs(tmp, logs, dataDir);
        }
    }

    /**
     * Where a start's time went, from the service log's timestamps (informational; "?" where a line is missing): JVM
     * and model, the embedded broker (stopping the one the killed service left, starting a new one), topics and Streams
     * set-up, then REBALANCING -> RUNNING (joining the group, restoring the stores).
     */
    static String phases(ServiceProcess p) {
        Path log = p.log;
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            Pattern ts = Pattern.compile("^(\\d\\d):(\\d\\d):(\\d\\d)\\.(\\d{3}) ");
            long first = Instant.ofEpochMilli(p.startedMillis)
                            .atZone(ZoneId.systemDefault())
                            .toLocalTime()
                            .toNanoOfDay()
                    / 1_000_000;
            long brokerFrom = -1, brokerReady = -1, rebalancing = -1, running = -1;
            for (String l : lines) {
                var m = ts.matcher(l);
                if (!m.find()) continue;
                long t = ((Long.parseLong(m.group(1)) * 60 + Long.parseLong(m.group(2))) * 60
                                        + Long.parseLong(m.group(3)))
                                * 1000
                        + Long.parseLong(m.group(4));
                if (brokerFrom < 0 && l.contains("KV heads keep their full cache"))
                    brokerFrom = t; // RazorService, just before the broker
                if (brokerReady < 0 && l.contains("embedded Kafka broker ready")) brokerReady = t;
                if (rebalancing < 0 && l.contains("stream processing: CREATED -> REBALANCING")) rebalancing = t;
                if (running < 0 && l.contains("-> RUNNING")) running = t;
            }
            return "JVM start + model " + span(first, brokerFrom) + ", broker stopped+started "
                    + span(brokerFrom, brokerReady) + ", topics+Streams set-up " + span(brokerReady, rebalancing)
                    + ", REBALANCING -> RUNNING " + span(rebalancing, running);
        } catch (IOException e) {
            return "(cannot read " + log + ")";
        }
    }

    private static String span(long from, long to) {
        if (from < 0 || to < 0) return "?";
        long ms = to - from;
        if (ms < 0) ms += 24 * 3600_000; // past midnight
        return String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
    }

    /** "turnId text prompt completion finish cache" of each non-duplicate reply, in the partition's order. */
    static List<String> firstReplies(List<ReplyEvent> events) {
        List<String> out = new ArrayList<>();
        if (events == null) return out;
        for (ReplyEvent e : events) {
            if (e.getDuplicate()) continue;
            out.add(e.getTurnId() + " text=" + e.getText() + " prompt=" + e.getPromptTokens() + " completion="
                    + e.getCompletionTokens() + " finish=" + e.getFinishReason() + " error=" + e.getError() + " tokens="
                    + e.getCache().getTokens() + " kv=" + e.getCache().getKvBytes());
        }
        return out;
    }

    static Map<String, SessionInfo> sessionInfos(int port, List<String> sessions) throws InterruptedException {
        ManagedChannel ch = ManagedChannelBuilder.forAddress("localhost", port)
                .usePlaintext()
                .build();
        try {
            Map<String, SessionInfo> out = new LinkedHashMap<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            for (String s : sessions) {
                while (true) {
                    try {
                        out.put(
                                s,
                                MemoryServiceGrpc.newBlockingStub(ch)
                                        .withDeadlineAfter(10, TimeUnit.SECONDS)
                                        .getSession(GetSessionRequest.newBuilder()
                                                .setSessionId(s)
                                                .build()));
                        break;
                    } catch (StatusRuntimeException e) {
                        if (e.getStatus().getCode() != Status.Code.UNAVAILABLE || System.nanoTime() > deadline) throw e;
                        Thread.sleep(RETRY_PAUSE_MS);
                    }
                }
            }
            return out;
        } finally {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** Every committed ReplyEvent on the replies topic, per session, in offset order. */
    /**
     * The replies topic once it holds {@code expected} non-duplicate replies (or after 30 s, for the assertions to
     * report).
     */
    static Map<String, List<ReplyEvent>> committedReplies(Path dataDir, int expected) throws Exception {
        Map<String, List<ReplyEvent>> replies = replies(dataDir, Duration.ofSeconds(60));
        for (long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                nonDuplicates(replies) < expected && System.nanoTime() < until; ) {
            Thread.sleep(500);
            replies = replies(dataDir, Duration.ofSeconds(60));
        }
        return replies;
    }

    static long nonDuplicates(Map<String, List<ReplyEvent>> replies) {
        return replies.values().stream()
                .flatMap(List::stream)
                .filter(e -> !e.getDuplicate())
                .count();
    }

    static Map<String, List<ReplyEvent>> replies(Path dataDir, Duration limit) throws Exception {
        Properties ports = new Properties();
        try (InputStream in = Files.newInputStream(dataDir.resolve("kafka").resolve("ports.properties"))) {
            ports.load(in);
        }
        Map<String, List<ReplyEvent>> out = new LinkedHashMap<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        "127.0.0.1:" + ports.getProperty("broker"),
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        "read_committed",
                        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                        false),
                new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> parts = consumer.partitionsFor("razorstream.replies", Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition()))
                    .toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> end =
                    consumer.endOffsets(parts, Duration.ofSeconds(30)); // read_committed: the last stable offsets
            long deadline = System.nanoTime() + limit.toNanos();
            while (parts.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                if (System.nanoTime() > deadline)
                    throw new AssertionError(
                            "the replies topic was not read to its end " + end + " in " + limit.toSeconds() + " s");
                for (ConsumerRecord<String, byte[]> rec : consumer.poll(Duration.ofMillis(500))) {
                    out.computeIfAbsent(rec.key(), k -> new ArrayList<>()).add(ReplyEvent.parseFrom(rec.value()));
                }
            }
        }
        return out;
    }

    static void printReport(List<String> report) {
        if (report.isEmpty()) return;
        System.out.println("ChaosTest report (restart bound " + RESTART_BOUND.toSeconds() + " s, first-turn bound "
                + FIRST_TURN_BOUND.toSeconds() + " s):");
        for (String line : report) System.out.println("  " + line);
        report.clear();
    }

    static void printTail(Path file, int lines) {
        try {
            if (!Files.exists(file)) return;
            List<String> all = Files.readAllLines(file, StandardCharsets.UTF_8);
            System.out.println("---- last " + Math.min(lines, all.size()) + " lines of " + file + " ----");
            all.subList(Math.max(0, all.size() - lines), all.size())
                    .forEach(l -> System.out.println(l.length() > 400 ? l.substring(0, 400) + "..." : l));
        } catch (IOException e) {
            System.out.println("(cannot read " + file + ": " + e + ")");
        }
    }

    /**
     * A failed run's logs (any run's with -Dchaos.keepLogs=true), kept past the temp dir's deletion under
     * target/chaos-logs.
     */
    static void keepLogs(Path tmp, List<Path> logs, Path dataDir) {
        try {
            Path dest = Path.of("target", "chaos-logs", String.valueOf(System.currentTimeMillis()));
            Files.createDirectories(dest);
            for (Path log : logs) if (Files.exists(log)) Files.copy(log, dest.resolve(log.getFileName()));
            Path broker = dataDir.resolve("kafka").resolve("broker.log");
            if (Files.exists(broker)) Files.copy(broker, dest.resolve("broker.log"));
            System.out.println("ChaosTest: logs kept in " + dest.toAbsolutePath() + " (temp dir " + tmp + ")");
        } catch (IOException e) {
            System.out.println("ChaosTest: could not keep the logs: " + e);
        }
    }
}
