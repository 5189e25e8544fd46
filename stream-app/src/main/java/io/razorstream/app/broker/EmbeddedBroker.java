package io.razorstream.app.broker;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A real single-node Kafka broker (KRaft, broker + controller) for the embedded mode, run as a child JVM
 * ({@code kafka.Kafka}) from this process's own class path. A child rather than in-process: the broker is the very
 * program production runs, its logging and memory stay out of the service's, and SIGTERM stops it cleanly (STACK.md:
 * the least fragile of the three verified ways). Its logs and metadata live under {@code dir}, with the ports chosen on
 * first start, so a restart finds its topics and sessions.
 */
public final class EmbeddedBroker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EmbeddedBroker.class);

    private final ProcessHandle process;
    private final String bootstrap;

    private EmbeddedBroker(ProcessHandle process, String bootstrap) {
        this.process = process;
        this.bootstrap = bootstrap;
    }

    public String bootstrapServers() {
        return bootstrap;
    }

    /** Starts (formatting the storage on first use) and waits until the broker answers, or fails saying why. */
    public static EmbeddedBroker start(Path dir, Duration timeout) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path ports = dir.resolve("ports.properties"),
                config = dir.resolve("server.properties"),
                logs = dir.resolve("logs");
        Properties p = new Properties();
        if (Files.exists(ports)) {
            try (Reader r = Files.newBufferedReader(ports)) {
                p.load(r);
            }
        } else {
            p.setProperty("broker", String.valueOf(freePort()));
            p.setProperty("controller", String.valueOf(freePort()));
            try (Writer w = Files.newBufferedWriter(ports)) {
                p.store(w, "ports of the embedded broker, kept across restarts");
            }
        }
        int brokerPort, controllerPort;
        try {
            brokerPort = Integer.parseInt(p.getProperty("broker"));
            controllerPort = Integer.parseInt(p.getProperty("controller"));
        } catch (NumberFormatException e) {
            throw new IOException(ports + " is damaged (it needs broker=PORT and controller=PORT): " + e.getMessage());
        }
        Files.writeString(
                config,
                String.join(
                        "\n",
                        "process.roles=broker,controller",
                        "node.id=1",
                        "controller.quorum.bootstrap.servers=127.0.0.1:" + controllerPort,
                        "listeners=PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort,
                        "advertised.listeners=PLAINTEXT://127.0.0.1:" + brokerPort,
                        "controller.listener.names=CONTROLLER",
                        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                        "inter.broker.listener.name=PLAINTEXT",
                        "log.dirs=" + logs,
                        "num.partitions=4",
                        "offsets.topic.replication.factor=1",
                        "transaction.state.log.replication.factor=1",
                        "transaction.state.log.min.isr=1",
                        "share.coordinator.state.topic.replication.factor=1",
                        "share.coordinator.state.topic.min.isr=1",
                        "min.insync.replicas=1",
                        "group.initial.rebalance.delay.ms=0",
                        "log.cleaner.dedupe.buffer.size=8388608", // the default takes 128 MB of heap
                        "transaction.max.timeout.ms=900000",
                        ""));
        Path out = dir.resolve("broker.log");
        if (!Files.exists(logs.resolve("meta.properties"))) format(config, logs, out);
        ProcessHandle process;
        var orphan = orphan(dir.resolve("broker.pid"), config);
        if (orphan.isPresent()) {
            // A service killed without cleaning up (SIGKILL, a crash) left its broker running on these very files
            // and ports: take it over rather than pay for a clean shutdown and a new start (tens of seconds).
            process = orphan.get();
            log.info("taking over the embedded broker left running by an earlier process (pid {})", process.pid());
        } else {
            if (listening(brokerPort) || listening(controllerPort)) {
                throw new IOException("port " + brokerPort + " or " + controllerPort + " of the embedded broker ("
                        + ports + ") is already in use; is another RazorStream running with this data dir?");
            }
            process = java(List.of("kafka.Kafka", config.toString()), out).toHandle();
            Files.writeString(dir.resolve("broker.pid"), String.valueOf(process.pid()));
        }
        EmbeddedBroker b = new EmbeddedBroker(process, "127.0.0.1:" + brokerPort);
        try {
            b.awaitReady(timeout, out);
        } catch (IOException | RuntimeException e) {
            b.close();
            throw e;
        }
        log.info("embedded Kafka broker ready at {} (data in {}, log in {})", b.bootstrap, dir, out);
        return b;
    }

    /**
     * Writes the storage's metadata (a new cluster id). A failed attempt is retried once (CI saw a single failure it
     * could not explain); nothing is deleted, and a second failure's message carries the tool's output.
     */
    private static void format(Path config, Path logs, Path out) throws IOException, InterruptedException {
        String failure = null;
        for (int attempt = 1; attempt <= 2; attempt++) {
            long logStart = Files.exists(out) ? Files.size(out) : 0;
            Process format = java(
                    List.of(
                            "kafka.tools.StorageTool",
                            "format",
                            "--standalone",
                            "-t",
                            Uuid.randomUuid().toString(),
                            "-c",
                            config.toString()),
                    out);
            boolean finished = format.waitFor(120, TimeUnit.SECONDS);
            if (finished && format.exitValue() == 0) return;
            if (!finished) format.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            failure = (finished ? "exit code " + format.exitValue() : "no result within 120 s") + "; its output: "
                    + tail(out, logStart);
            log.warn("formatting the embedded broker's storage in {} failed (attempt {}): {}", logs, attempt, failure);
        }
        throw new IOException(
                "formatting the embedded broker's storage in " + logs + " failed (" + failure + "); see " + out);
    }

    /** The last lines the file received since {@code from}, on one line. */
    private static String tail(Path file, long from) throws IOException {
        if (!Files.exists(file)) return "(none)";
        byte[] all = Files.readAllBytes(file);
        String added = new String(
                        all,
                        (int) Math.min(from, all.length),
                        (int) Math.max(0, all.length - from),
                        StandardCharsets.UTF_8)
                .strip();
        List<String> lines = added.lines().toList();
        return added.isEmpty()
                ? "(none)"
                : String.join(" | ", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
    }

    /**
     * The broker a killed service left running: the process recorded in the pid file, if it is alive and is a broker of
     * this very config (not another program that reused the pid).
     */
    private static Optional<ProcessHandle> orphan(Path pidFile, Path config) throws IOException {
        if (!Files.exists(pidFile)) return Optional.empty();
        long pid;
        try {
            pid = Long.parseLong(Files.readString(pidFile).trim());
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).filter(h -> {
            String c = commandLine(h);
            return c.contains("kafka.Kafka") && c.contains(config.toString());
        });
    }

    /** The process's command line: /proc on Linux (complete even with a long class path), else what the JDK reports. */
    private static String commandLine(ProcessHandle h) {
        Path proc = Path.of("/proc", String.valueOf(h.pid()), "cmdline");
        try {
            if (Files.isReadable(proc))
                return new String(Files.readAllBytes(proc), StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            // fall through
        }
        return h.info().commandLine().orElse("");
    }

    private void awaitReady(Duration timeout, Path out) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        // First the port (quietly), then a real request: the admin client logs every refused connection.
        int port = Integer.parseInt(bootstrap.substring(bootstrap.lastIndexOf(':') + 1));
        while (!listening(port)) {
            if (!process.isAlive()) throw new IOException("the embedded broker exited; see " + out);
            if (System.nanoTime() > deadline)
                throw new IOException("the embedded broker did not start within " + timeout + "; see " + out);
            Thread.sleep(100);
        }
        try (Admin admin = Admin.create(Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrap,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG,
                2000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG,
                3000))) {
            while (true) {
                if (!process.isAlive()) throw new IOException("the embedded broker exited; see " + out);
                try {
                    if (!admin.describeCluster()
                            .nodes()
                            .get(3, TimeUnit.SECONDS)
                            .isEmpty()) return;
                } catch (Exception notYet) {
                    // not listening yet
                }
                if (System.nanoTime() > deadline)
                    throw new IOException("the embedded broker did not start within " + timeout + "; see " + out);
                Thread.sleep(200);
            }
        }
    }

    private static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static Process java(List<String> mainAndArgs, Path out) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(
                "-Xms64m",
                "-Xmx512m",
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                System.getProperty("java.class.path")));
        cmd.addAll(mainAndArgs);
        return new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile()))
                .start();
    }

    /** A port nothing listens on right now (the OS picks it). */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** SIGTERM, then up to 30 s for a clean shutdown before killing it. */
    @Override
    public void close() {
        if (!process.isAlive()) return;
        process.destroy();
        try {
            process.onExit().get(30, TimeUnit.SECONDS);
        } catch (TimeoutException | ExecutionException e) {
            log.warn("embedded broker did not stop within 30 s; killing it");
            process.destroyForcibly();
            try {
                process.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception ignored) {
                // gone or going
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
