package io.razorstream.engine.cli;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.PolicyNames;
import io.razorstream.engine.attention.SpanProfile;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.eval.Evaluation;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.ModelConfig;
import io.razorstream.engine.profile.CompensationCalibration;
import io.razorstream.engine.profile.HeadProfile;
import io.razorstream.engine.profile.HeadProfileFile;
import io.razorstream.engine.profile.HeadProfiler;
import io.razorstream.engine.profile.ProfileMethod;
import io.razorstream.engine.profile.Profiling;
import io.razorstream.engine.profile.SpanMeasurement;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.BiFunction;

@Command(
        name = "eval",
        mixinStandardHelpOptions = true,
        description = "Compare cache policies: passkey retrieval over lengths x "
                + "depths, KL divergence from the full cache, bytes kept.")
final class EvalCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Mixin
    ThreadsOption threads;

    @Option(
            names = "--profile",
            paramLabel = "PROFILE.json",
            description = "head profile (default: profile the model now)")
    Path profile;

    @Option(
            names = "--probe-period",
            defaultValue = "0",
            description = "when profiling now: probe length K (default: from the context)")
    int probePeriod;

    @Option(
            names = "--policies",
            defaultValue = "full,razor,streaming",
            split = ",",
            description = "full, razor (compensation token where the profile's "
                    + "calibration chose it), razor-paper (on every window head, " + "the paper's formula), "
                    + "razor-nocomp (no compensation token), razor-noecho "
                    + "(induction heads only), streaming, h2o and snapkv (at " + "Razor's byte budget), "
                    + "moa (per-head elastic windows from a span profile, at "
                    + "Razor's entries), random (Razor with random heads)")
    List<String> policies;

    /** The smallest window a moa head gets: its windows are shares of the tokens so far, down to this. */
    static final int MOA_MIN_WINDOW = 16;

    @Option(
            names = "--mask-heads",
            paramLabel = "retrieval|random|PROFILE.json",
            description = "also evaluate the full cache with heads masked (zero "
                    + "output): the profile's retrieval heads, as many random " + "ones, "
                    + "or another profile's retrieval heads; reported as policy masked-<which>")
    String maskHeads;

    @Option(
            names = "--lengths",
            defaultValue = "1k,4k",
            split = ",",
            description = "filler lengths in characters (k = 1000)")
    List<String> lengths;

    @Option(
            names = "--depths",
            defaultValue = "0,25,50,75,100",
            split = ",",
            description = "key positions, percent of the filler")
    List<Integer> depths;

    @Option(
            names = "--window",
            defaultValue = "64",
            description = "window heads: recent tokens (default: ${DEFAULT-VALUE})")
    int window;

    @Option(
            names = "--sinks",
            defaultValue = "4",
            description = "window heads: sink tokens (default: ${DEFAULT-VALUE})")
    int sinks;

    @Option(
            names = "--out",
            required = true,
            paramLabel = "DIR",
            description = "directory for passkey.csv, kl.csv, summary.md and the plots")
    Path out;

    @Override
    public Integer call() throws IOException {
        for (String p : policies) {
            String problem = PolicyNames.problem(p);
            if (problem != null) throw new IllegalArgumentException(problem);
        }
        if (profile != null && !Files.isRegularFile(profile))
            throw new IllegalArgumentException("profile " + profile + " does not exist");
        if (maskHeads != null
                && !maskHeads.equals("retrieval")
                && !maskHeads.equals("random")
                && !Files.isRegularFile(Path.of(maskHeads))) {
            throw new IllegalArgumentException(
                    "--mask-heads: " + maskHeads + " is neither retrieval, random nor a profile file");
        }
        for (int d : depths)
            if (d < 0 || d > 100) throw new IllegalArgumentException("depths are percentages, got " + d);
        List<Integer> chars = lengths.stream().map(EvalCommand::parseLength).toList();
        Files.createDirectories(out);
        var err = spec.commandLine().getErr();
        try (LoadedModel loaded = LoadedModel.open(model.resolve());
                var parallel = new Parallel(threads.resolve())) {
            ModelConfig c = loaded.model().config();
            boolean[][] retrieval, inductionOnly, compensated;
            String fingerprint = loaded.gguf().fingerprint();
            if (profile != null) {
                HeadProfileFile.Heads heads =
                        HeadProfileFile.read(profile, fingerprint, c.blockCount(), c.kvHeadCount());
                retrieval = heads.retrieval();
                inductionOnly = heads.inductionOnly();
                if (inductionOnly == null && policies.contains("razor-noecho")) {
                    throw new IllegalArgumentException(
                            profile + ": no inductionHeads (only profiles made with --method razor have them)");
                }
                compensated = heads.compensated();
                if (compensated == null)
                    err.printf(
                            "%s has no compensation calibration: razor keeps no "
                                    + "compensation token (run `profile` again)%n",
                            profile);
            } else {
                HeadProfile made = Profiling.make(
                        loaded,
                        ProfileMethod.RAZOR,
                        new HeadProfiler.Options(3, 0.14, 0.01, probePeriod),
                        CompensationCalibration.Options.DEFAULT,
                        parallel,
                        null);
                retrieval = made.retrieval();
                inductionOnly = made.inductionHeads();
                compensated = made.compensated();
            }
            List<String> evaluated = new ArrayList<>(policies);
            boolean[][] masked = null;
            if (maskHeads != null) {
                masked = switch (maskHeads) {
                    case "retrieval" -> retrieval;
                    case "random" ->
                        HeadSelection.random(
                                c.blockCount(), c.kvHeadCount(), HeadSelection.marked(retrieval), 13, retrieval);
                    default ->
                        HeadProfileFile.readRetrieval(Path.of(maskHeads), fingerprint, c.blockCount(), c.kvHeadCount());
                };
                evaluated.add(maskedName());
                err.printf("masking %d KV heads (%s)%n", HeadSelection.marked(masked), maskHeads);
            }
            WindowParams params = new WindowParams(sinks, window, Integer.MAX_VALUE);
            SpanProfile spans = evaluated.contains("moa")
                    ? SpanMeasurement.measure(loaded, 1, sinks, MOA_MIN_WINDOW, parallel)
                    : null;
            StringBuilder passkeyCsv = new StringBuilder("policy,length,depth,accuracy,kv_bytes,full_kv_bytes\n");
            StringBuilder klCsv = new StringBuilder("policy,length,kl,top1_agreement,kv_bytes,full_kv_bytes\n");
            Map<String, double[][]> accuracy = new LinkedHashMap<>();
            Map<String, double[]> bytesByLength = new LinkedHashMap<>();
            boolean[][] mask = masked;
            BiFunction<String, Integer, KvPolicy> policyOf = (p, tokens) -> mask != null && p.equals(maskedName())
                    ? KvPolicy.full(c.blockCount(), c.kvHeadCount()).withMasked(mask)
                    : PolicyNames.parse(
                            p,
                            new PolicyNames.Context(
                                    c.blockCount(),
                                    c.kvHeadCount(),
                                    retrieval,
                                    inductionOnly,
                                    compensated,
                                    spans,
                                    params,
                                    tokens));
            for (String p : evaluated) {
                accuracy.put(p, new double[chars.size()][depths.size()]);
                bytesByLength.put(p, new double[chars.size()]);
            }
            for (int li = 0; li < chars.size(); li++) {
                int length = chars.get(li);
                for (int di = 0; di < depths.size(); di++) {
                    String key = Evaluation.randomKey(31L * length + di);
                    String context = Evaluation.passkeyContext(key, length, depths.get(di) / 100.0, length + di);
                    int tokens = loaded.tokenizer().encode(context + Evaluation.QUESTION, true, true).length;
                    for (String p : evaluated) {
                        KvPolicy policy = policyOf.apply(p, tokens);
                        Evaluation.Passkey r = Evaluation.passkey(loaded, policy, key, context, parallel);
                        accuracy.get(p)[li][di] = r.correct() ? 1 : 0;
                        bytesByLength.get(p)[li] = r.kvBytes();
                        passkeyCsv.append(String.format(
                                Locale.ROOT,
                                "%s,%d,%d,%d,%d,%d%n",
                                p,
                                r.promptTokens(),
                                depths.get(di),
                                r.correct() ? 1 : 0,
                                r.kvBytes(),
                                r.fullKvBytes()));
                        err.printf(
                                "passkey %-12s length %6d depth %3d%%: %s (%s)%n",
                                p,
                                r.promptTokens(),
                                depths.get(di),
                                r.correct() ? "ok" : "wrong",
                                r.answer().replace("\n", "\\n"));
                    }
                }
                int[] text = loaded.tokenizer()
                        .encode(Evaluation.passkeyPrompt(Evaluation.randomKey(length), length, 0.5, 7), true, true);
                for (String p : evaluated) {
                    // KL over the second half, after a long (compressed) first half; one-shot policies compress at the
                    // midpoint.
                    Evaluation.Divergence d = Evaluation.divergence(
                            loaded.model(), text, text.length / 2, policyOf.apply(p, text.length), parallel);
                    klCsv.append(String.format(
                            Locale.ROOT,
                            "%s,%d,%.6f,%.4f,%d,%d%n",
                            p,
                            text.length,
                            d.kl(),
                            d.top1Agreement(),
                            d.kvBytes(),
                            d.fullKvBytes()));
                }
            }
            Files.writeString(out.resolve("passkey.csv"), passkeyCsv);
            Files.writeString(out.resolve("kl.csv"), klCsv);
            Files.writeString(out.resolve("summary.md"), summary(accuracy, chars, klCsv.toString()));
            plots(accuracy, bytesByLength, chars);
            err.printf("wrote passkey.csv, kl.csv, summary.md and plots into %s%n", out);
            err.flush();
        }
        return 0;
    }

    /** The name the masked run is reported under: masked-retrieval, masked-random, masked-FILE. */
    private String maskedName() {
        String which = maskHeads.equals("retrieval") || maskHeads.equals("random")
                ? maskHeads
                : Path.of(maskHeads).getFileName().toString();
        return "masked-" + which;
    }

    static int parseLength(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        int n;
        try {
            n = t.endsWith("k") ? Integer.parseInt(t.substring(0, t.length() - 1)) * 1000 : Integer.parseInt(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--lengths: '" + s + "' is not a length (e.g. 500, 4k)");
        }
        if (n < 10) throw new IllegalArgumentException("length " + s + " is too short");
        return n;
    }

    private String summary(Map<String, double[][]> accuracy, List<Integer> chars, String kl) {
        StringBuilder sb = new StringBuilder("# Cache policy evaluation\n\n");
        sb.append("Model: `")
                .append(model.resolve().getFileName())
                .append("`; window heads: ")
                .append(sinks)
                .append(" sinks + ")
                .append(window)
                .append(" recent tokens.\n\n## Passkey accuracy (mean over depths ")
                .append(depths)
                .append(")\n\n| policy |");
        for (int n : chars) sb.append(' ').append(n).append(" chars |");
        sb.append("\n| --- |").append(" --- |".repeat(chars.size())).append('\n');
        accuracy.forEach((p, grid) -> {
            sb.append("| ").append(p).append(" |");
            for (double[] row : grid)
                sb.append(String.format(
                        Locale.ROOT,
                        " %.0f%% |",
                        100 * Arrays.stream(row).average().orElse(0)));
            sb.append('\n');
        });
        sb.append("\n## KL(full || policy) under teacher forcing\n\n```\n")
                .append(kl)
                .append("```\n");
        return sb.toString();
    }

    private void plots(Map<String, double[][]> accuracy, Map<String, double[]> bytes, List<Integer> chars)
            throws IOException {
        System.setProperty("java.awt.headless", "true");
        for (var e : accuracy.entrySet()) {
            HeatMapChart chart = new HeatMapChartBuilder()
                    .width(520)
                    .height(360)
                    .title("passkey accuracy: " + e.getKey())
                    .xAxisTitle("depth %")
                    .yAxisTitle("length (chars)")
                    .build();
            chart.getStyler().setMin(0);
            chart.getStyler().setMax(1);
            List<Number[]> cells = new ArrayList<>();
            for (int li = 0; li < chars.size(); li++)
                for (int di = 0; di < depths.size(); di++) cells.add(new Number[] {di, li, e.getValue()[li][di]});
            chart.addSeries(e.getKey(), new ArrayList<>(depths), new ArrayList<>(chars), cells);
            BitmapEncoder.saveBitmap(
                    chart, out.resolve("passkey-" + e.getKey()).toString(), BitmapEncoder.BitmapFormat.PNG);
        }
        XYChart memory = new XYChartBuilder()
                .width(600)
                .height(400)
                .title("KV cache bytes vs context")
                .xAxisTitle("length (chars)")
                .yAxisTitle("bytes")
                .build();
        double[] x = chars.stream().mapToDouble(Integer::doubleValue).toArray();
        bytes.forEach((p, y) -> memory.addSeries(p, x, y));
        BitmapEncoder.saveBitmap(memory, out.resolve("memory").toString(), BitmapEncoder.BitmapFormat.PNG);
    }
}
