package io.razorstream.app.cli;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.razorstream.app.RazorService;
import io.razorstream.app.config.ServiceConfig;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.Turn;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

@Command(name = "bench-service", mixinStandardHelpOptions = true,
        description = {"Service overhead: time to first token through gRPC + Kafka minus the engine's own prefill time (p50, p99), "
                + "and AppendTurns ingestion rate. Starts an embedded service (own broker, synthetic model) in a temporary "
                + "directory unless --target names a running one."})
final class BenchServiceCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--target", paramLabel = "HOST:PORT", description = "a running service (default: start one)")
    String target;

    @Option(names = "--turns", defaultValue = "200", description = "measured Chat turns (default: ${DEFAULT-VALUE})")
    int turns;

    @Option(names = "--warmup", defaultValue = "20", description = "unmeasured Chat turns first (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--history-turns", defaultValue = "400", description = "turns ingested with AppendTurns (default: ${DEFAULT-VALUE})")
    int historyTurns;

    @Option(names = "--batch", defaultValue = "50", description = "turns per AppendTurns call (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "60s", converter = ClientOptions.DurationConverter.class,
            description = "deadline of each call (default: ${DEFAULT-VALUE})")
    Duration timeout;

    @Override
    public Integer call() throws Exception {
        if (turns < 1 || warmup < 0 || historyTurns < 1 || batch < 1) {
            throw new IllegalArgumentException("--turns, --history-turns and --batch must be >= 1, --warmup >= 0");
        }
        PrintWriter out = spec.commandLine().getOut();
        Path dir = null;
        RazorService service = null;
        String where = target;
        try {
            if (where == null) {
                dir = Files.createTempDirectory("razorstream-bench-service");
                service = RazorService.start(ServiceConfig.load(null, Map.of(), Map.of("data.dir", dir.toString(), "grpc.port", "0")));
                service.awaitRunning(Duration.ofMinutes(2));
                where = "localhost:" + service.grpcPort();
            }
            ManagedChannel channel = ManagedChannelBuilder.forTarget(ClientOptions.checkTarget(where)).usePlaintext().build();
            try {
                run(MemoryServiceGrpc.newBlockingStub(channel), out);
            } catch (io.grpc.StatusRuntimeException e) {
                ClientOptions.report(spec.commandLine().getErr(), where, e, timeout, null);
                return 1;
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } finally {
            if (service != null) service.close();
            if (dir != null) BenchStoreCommand.deleteTree(dir);
        }
        return 0;
    }

    private void run(MemoryServiceGrpc.MemoryServiceBlockingStub stub, PrintWriter out) {
        Random r = new Random(1);
        double[] ttft = new double[turns], overhead = new double[turns], prefill = new double[turns];
        for (int i = -warmup; i < turns; i++) {
            String session = "bench-" + Math.floorMod(i, 10); // 10 sessions, spread over the partitions
            long t0 = System.nanoTime();
            Iterator<ChatResponse> it = deadline(stub).chat(ChatRequest.newBuilder().setSessionId(session).setTurnId("turn-" + i + "-" + r.nextLong())
                    .setText(" the quick brown fox " + r.nextInt(1000)).setParams(GenerationParams.newBuilder().setMaxTokens(2)).build());
            long first = 0;
            ChatDone done = null;
            while (it.hasNext()) {
                ChatResponse resp = it.next();
                if (resp.hasDelta() && first == 0) first = System.nanoTime();
                if (resp.hasDone()) done = resp.getDone();
            }
            if (i < 0 || done == null) continue;
            if (first == 0) first = System.nanoTime(); // a reply without text: its end is the first token
            ttft[i] = (first - t0) / 1e6;
            prefill[i] = done.getPrefillMicros() / 1e3;
            overhead[i] = ttft[i] - prefill[i];
        }
        out.printf(Locale.ROOT, "Chat, %d turns (after %d warm-up), 2-token replies on 10 sessions:%n", turns, warmup);
        out.printf(Locale.ROOT, "  time to first token: p50 %.2f ms, p99 %.2f ms%n", pct(ttft, 50), pct(ttft, 99));
        out.printf(Locale.ROOT, "  engine prefill:      p50 %.2f ms, p99 %.2f ms%n", pct(prefill, 50), pct(prefill, 99));
        out.printf(Locale.ROOT, "  service overhead:    p50 %.2f ms, p99 %.2f ms (time to first token minus prefill)%n", pct(overhead, 50), pct(overhead, 99));

        long t0 = System.nanoTime();
        long tokens = 0, engineMicros = 0;
        for (int done = 0; done < historyTurns; ) {
            AppendTurnsRequest.Builder req = AppendTurnsRequest.newBuilder().setSessionId("history");
            for (int k = 0; k < batch && done < historyTurns; k++, done++) {
                req.addTurns(Turn.newBuilder().setTurnId("h" + done).setText(" turn " + done + " of the history: the quick brown fox jumps over a lazy dog."));
            }
            var resp = deadline(stub).appendTurns(req.build());
            tokens = resp.getCache().getTokens();
            engineMicros += resp.getPrefillMicros();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        out.printf(Locale.ROOT, "AppendTurns, %d turns in calls of %d: %.1f turns/s (%.0f tokens/s; the session holds %d tokens); "
                + "engine prefill %.0f%% of the time%n", historyTurns, batch, historyTurns / seconds, tokens / seconds, tokens,
                100 * engineMicros / 1e6 / seconds);
        out.flush();
    }

    private MemoryServiceGrpc.MemoryServiceBlockingStub deadline(MemoryServiceGrpc.MemoryServiceBlockingStub stub) {
        return stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    static double pct(double[] x, double p) {
        double[] s = x.clone();
        Arrays.sort(s);
        int i = (int) Math.ceil(p / 100 * s.length) - 1;
        return s[Math.max(0, Math.min(s.length - 1, i))];
    }
}
