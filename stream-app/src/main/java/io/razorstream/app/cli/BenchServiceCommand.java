package io.razorstream.app.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.razorstream.app.RazorService;
import io.razorstream.app.config.ServiceConfig;
import io.razorstream.engine.bench.Benchmark;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.Turn;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

@Command(
        name = "bench-service",
        mixinStandardHelpOptions = true,
        abbreviateSynopsis = true,
        description = {
            "Service overhead: time to first token through gRPC + Kafka "
                    + "minus the engine's own prefill time (p50, p99), "
                    + "and AppendTurns ingestion rate. With --sessions N: N "
                    + "sessions growing through the --history lengths, time to "
                    + "first token per length against a stateless re-prefill of "
                    + "the whole history, and aggregate decode. Starts an "
                    + "embedded service (own broker, synthetic model unless --set "
                    + "model=FILE) in a temporary directory unless "
                    + "--target names a running one."
        })
final class BenchServiceCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--target", paramLabel = "HOST:PORT", description = "a running service (default: start one)")
    String target;

    @Option(names = "--turns", defaultValue = "200", description = "measured Chat turns (default: ${DEFAULT-VALUE})")
    int turns;

    @Option(
            names = "--warmup",
            defaultValue = "20",
            description = "unmeasured Chat turns first (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(
            names = "--history-turns",
            defaultValue = "400",
            description = "turns ingested with AppendTurns (default: ${DEFAULT-VALUE})")
    int historyTurns;

    @Option(
            names = "--batch",
            defaultValue = "50",
            description = "turns per AppendTurns call (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(
            names = "--timeout",
            paramLabel = "DURATION",
            defaultValue = "60s",
            converter = ClientOptions.DurationConverter.class,
            description = "deadline of each call (default: ${DEFAULT-VALUE})")
    Duration timeout;

    @Option(
            names = "--sessions",
            split = ",",
            defaultValue = "0",
            paramLabel = "N[,N...]",
            description = "sessions at once: the memory benchmark (0: the overhead "
                    + "benchmark); several counts (1,2,4,8,16,32): the benchmark "
                    + "for each, and with --chart the concurrency curve")
    int[] sessions;

    @Option(
            names = "--history",
            split = ",",
            paramLabel = "TOKENS",
            defaultValue = "1024,2048,4096,8192,16384",
            description = "with --sessions: history lengths the sessions grow through (default: ${DEFAULT-VALUE})")
    int[] history;

    @Option(
            names = "--reply-tokens",
            defaultValue = "16",
            description = "with --sessions: tokens per reply (default: ${DEFAULT-VALUE})")
    int replyTokens;

    @Option(
            names = "--reprefill-runs",
            defaultValue = "1",
            description = "with --sessions: stateless re-prefill turns per length (default: ${DEFAULT-VALUE})")
    int reprefillRuns;

    @Option(names = "--json", description = "with --sessions: print one JSON object")
    boolean json;

    @Option(
            names = "--chart",
            paramLabel = "PNG",
            description = "with --sessions: plot time to first token against history length into this PNG file")
    Path chart;

    @Option(
            names = "--set",
            paramLabel = "KEY=VALUE",
            description = "a setting of the embedded service (repeatable), for example the model to serve")
    Map<String, String> settings = new LinkedHashMap<>();

    @Override
    public Integer call() throws Exception {
        boolean memory = Arrays.stream(sessions).allMatch(n -> n > 0);
        if (memory && !spec.commandLine().getParseResult().hasMatchedOption("--turns"))
            turns = 3; // rounds per history length
        if (Arrays.stream(sessions).anyMatch(n -> n < 0)
                || (!memory && sessions.length > 1)
                || replyTokens < 1
                || reprefillRuns < 0
                || Arrays.stream(history).anyMatch(h -> h < 1)) {
            throw new IllegalArgumentException("--sessions must be one 0 or counts >= 1, --reply-tokens >= "
                    + "1, --reprefill-runs >= 0 and --history lengths >= 1");
        }
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
                Map<String, String> overrides = new LinkedHashMap<>(settings);
                overrides.put("data.dir", dir.toString());
                overrides.put("grpc.port", "0");
                overrides.putIfAbsent("http.port", "0");
                service = RazorService.start(ServiceConfig.load(null, Map.of(), overrides));
                service.awaitRunning(Duration.ofMinutes(2));
                where = "localhost:" + service.grpcPort();
            }
            ManagedChannel channel = ManagedChannelBuilder.forTarget(ClientOptions.checkTarget(where))
                    .usePlaintext()
                    .build();
            try {
                if (memory) memory(MemoryServiceGrpc.newBlockingStub(channel), out);
                else run(MemoryServiceGrpc.newBlockingStub(channel), out);
            } catch (StatusRuntimeException e) {
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
            Iterator<ChatResponse> it = deadline(stub)
                    .chat(ChatRequest.newBuilder()
                            .setSessionId(session)
                            .setTurnId("turn-" + i + "-" + r.nextLong())
                            .setText(" the quick brown fox " + r.nextInt(1000))
                            .setParams(GenerationParams.newBuilder().setMaxTokens(2))
                            .build());
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
        out.printf(
                Locale.ROOT, "  engine prefill:      p50 %.2f ms, p99 %.2f ms%n", pct(prefill, 50), pct(prefill, 99));
        out.printf(
                Locale.ROOT,
                "  service overhead:    p50 %.2f ms, p99 %.2f ms (time to first token minus prefill)%n",
                pct(overhead, 50),
                pct(overhead, 99));

        long t0 = System.nanoTime();
        long tokens = 0, engineMicros = 0;
        for (int done = 0; done < historyTurns; ) {
            AppendTurnsRequest.Builder req = AppendTurnsRequest.newBuilder().setSessionId("history");
            for (int k = 0; k < batch && done < historyTurns; k++, done++) {
                req.addTurns(Turn.newBuilder()
                        .setTurnId("h" + done)
                        .setText(" turn " + done + " of the history: the quick brown fox jumps over a lazy dog."));
            }
            var resp = deadline(stub).appendTurns(req.build());
            tokens = resp.getCache().getTokens();
            engineMicros += resp.getPrefillMicros();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        out.printf(
                Locale.ROOT,
                "AppendTurns, %d turns in calls of %d: %.1f turns/s (%.0f tokens/s; the session holds %d tokens); "
                        + "engine prefill %.0f%% of the time%n",
                historyTurns,
                batch,
                historyTurns / seconds,
                tokens / seconds,
                tokens,
                100 * engineMicros / 1e6 / seconds);
        out.flush();
    }

    /** What one session count gave: per history length, the benchmark's figures. */
    private record Run(int sessions, List<MemoryBenchmark.Level> levels) {
        /** A figure's median over the history lengths. */
        double median(ToDoubleFunction<MemoryBenchmark.Level> f) {
            return Benchmark.median(levels.stream().mapToDouble(f).toArray());
        }

        /** A figure at the shortest history (the concurrency curve's). */
        double first(ToDoubleFunction<MemoryBenchmark.Level> f) {
            return f.applyAsDouble(levels.getFirst());
        }
    }

    private void memory(MemoryServiceGrpc.MemoryServiceBlockingStub stub, PrintWriter out) throws Exception {
        PrintWriter progress = json ? spec.commandLine().getErr() : out;
        List<Run> runs = new ArrayList<>();
        for (int n : sessions) {
            progress.printf(
                    Locale.ROOT,
                    "%d sessions, %d rounds per history length, %d-token replies, histories %s%n",
                    n,
                    turns,
                    replyTokens,
                    Arrays.toString(history));
            runs.add(new Run(
                    n,
                    new MemoryBenchmark(() -> deadline(stub), n, turns, replyTokens, reprefillRuns)
                            .run(history, progress)));
        }
        if (json) {
            if (runs.size() == 1) {
                out.println(json(runs.getFirst()));
            } else {
                var all = JSON.createObjectNode();
                var array = all.putArray("runs");
                runs.forEach(r -> array.add(json(r)));
                out.println(all);
            }
        } else {
            for (Run r : runs) {
                out.printf(
                        Locale.ROOT,
                        "decode: %.2f tokens/s aggregate over %d sessions (%.2f "
                                + "while all decode), %.2f for one session alone "
                                + "(medians over the lengths); stages (p50 ms, first length): %s%n",
                        r.median(MemoryBenchmark.Level::aggregateDecode),
                        r.sessions(),
                        r.median(MemoryBenchmark.Level::allDecoding),
                        r.median(MemoryBenchmark.Level::singleDecode),
                        r.levels().getFirst().stagesP50Ms());
            }
        }
        if (chart != null) {
            if (runs.size() == 1) historyChart(runs.getFirst());
            else concurrencyChart(runs);
            progress.println("chart: " + chart);
        }
        out.flush();
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private ObjectNode json(Run r) {
        var o = JSON.createObjectNode()
                .put("sessions", r.sessions())
                .put("turns", turns)
                .put("replyTokens", replyTokens)
                .put("aggregateDecodeTokensPerSecond", round(r.median(MemoryBenchmark.Level::aggregateDecode), 3))
                .put("allDecodingTokensPerSecond", round(r.median(MemoryBenchmark.Level::allDecoding), 3))
                .put("singleSessionDecodeTokensPerSecond", round(r.median(MemoryBenchmark.Level::singleDecode), 3));
        byHistory(o.putObject("ttftP50MsByHistory"), r, MemoryBenchmark.Level::ttftP50);
        byHistory(o.putObject("ttftP99MsByHistory"), r, MemoryBenchmark.Level::ttftP99);
        byHistory(o.putObject("reprefillTtftP50MsByHistory"), r, MemoryBenchmark.Level::reprefillTtftP50);
        var stages = o.putObject("stagesP50MsByHistory");
        for (MemoryBenchmark.Level l : r.levels()) {
            var at = stages.putObject(String.valueOf(l.history()));
            l.stagesP50Ms().forEach((stage, ms) -> at.put(stage, round(ms, 2)));
        }
        return o;
    }

    /** history length -> the figure, in milliseconds to 0.1. */
    private static void byHistory(ObjectNode into, Run r, ToDoubleFunction<MemoryBenchmark.Level> f) {
        MemoryBenchmark.byHistory(r.levels(), f)
                .forEach((history, value) -> into.put(String.valueOf(history), round(value, 1)));
    }

    private static double round(double x, int decimals) {
        double scale = Math.pow(10, decimals);
        return Math.round(x * scale) / scale;
    }

    /** Time to first token against history length, beside a stateless re-prefill. */
    private void historyChart(Run r) throws IOException {
        var ttft = MemoryBenchmark.byHistory(r.levels(), MemoryBenchmark.Level::ttftP50);
        var reprefill = MemoryBenchmark.byHistory(r.levels(), MemoryBenchmark.Level::reprefillTtftP50);
        XYChart c = new XYChartBuilder()
                .width(700)
                .height(450)
                .title("Time to first token vs history (" + r.sessions() + " sessions)")
                .xAxisTitle("history (tokens)")
                .yAxisTitle("TTFT p50 (ms)")
                .build();
        double[] x = ttft.keySet().stream().mapToDouble(Integer::doubleValue).toArray();
        c.addSeries(
                "RazorStream (cached session)",
                x,
                ttft.values().stream().mapToDouble(Double::doubleValue).toArray());
        if (reprefillRuns > 0)
            c.addSeries(
                    "stateless re-prefill",
                    x,
                    reprefill.values().stream().mapToDouble(Double::doubleValue).toArray());
        BitmapEncoder.saveBitmap(c, chart.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    /**
     * Aggregate decode (left axis) and time to first token p50 / p99 (right axis) against sessions at once, at the
     * first history length.
     */
    private void concurrencyChart(List<Run> runs) throws IOException {
        XYChart c = new XYChartBuilder()
                .width(760)
                .height(460)
                .title("Sessions at once (history "
                        + runs.getFirst().levels().getFirst().history() + " tokens, " + replyTokens + "-token replies)")
                .xAxisTitle("sessions at once")
                .build();
        double[] x = runs.stream().mapToDouble(Run::sessions).toArray();
        c.addSeries(
                "aggregate decode, round (tokens/s)",
                x,
                runs.stream()
                        .mapToDouble(r -> r.first(MemoryBenchmark.Level::aggregateDecode))
                        .toArray());
        c.addSeries(
                "aggregate while all decode (tokens/s)",
                x,
                runs.stream()
                        .mapToDouble(r -> r.first(MemoryBenchmark.Level::allDecoding))
                        .toArray());
        c.addSeries(
                        "TTFT p50 (ms)",
                        x,
                        runs.stream()
                                .mapToDouble(r -> r.first(MemoryBenchmark.Level::ttftP50))
                                .toArray())
                .setYAxisGroup(1);
        c.addSeries(
                        "TTFT p99 (ms)",
                        x,
                        runs.stream()
                                .mapToDouble(r -> r.first(MemoryBenchmark.Level::ttftP99))
                                .toArray())
                .setYAxisGroup(1);
        c.setYAxisGroupTitle(0, "aggregate decode (tokens/s)");
        c.setYAxisGroupTitle(1, "time to first token (ms)");
        c.getStyler().setYAxisGroupPosition(1, Styler.YAxisPosition.Right);
        c.getStyler().setYAxisMin(0, 0.0);
        c.getStyler().setYAxisMin(1, 0.0);
        BitmapEncoder.saveBitmap(c, chart.toString(), BitmapEncoder.BitmapFormat.PNG);
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
