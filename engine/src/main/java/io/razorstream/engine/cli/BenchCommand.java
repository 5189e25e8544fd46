package io.razorstream.engine.cli;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.Compensation;
import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.PolicyNames;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.bench.Benchmark;
import io.razorstream.engine.grammar.Grammar;
import io.razorstream.engine.grammar.JsonGrammar;
import io.razorstream.engine.kernel.Kernels;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.profile.HeadProfileFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(
        name = "bench",
        mixinStandardHelpOptions = true,
        description =
                "Measure prefill and decode tokens/s (medians after a warm-up) and decode's memory-bandwidth ceiling.")
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Option(names = "--prompt-tokens", defaultValue = "128", description = "prompt length (default: ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(
            names = "--gen-tokens",
            defaultValue = "32",
            description = "tokens decoded per run, always all of them: end-of-generation tokens are ignored, as "
                    + "llama-bench does (default: ${DEFAULT-VALUE})")
    int genTokens;

    @Mixin
    ThreadsOption threads;

    @Option(names = "--repeats", defaultValue = "5", description = "measured runs (default: ${DEFAULT-VALUE})")
    int repeats;

    @Option(names = "--warmups", defaultValue = "1", description = "unmeasured runs first (default: ${DEFAULT-VALUE})")
    int warmups;

    @Option(
            names = "--json-schema",
            description = "keep every reply inside this JSON Schema (a file), by grammar-constrained sampling: prices "
                    + "structured output against a run without it")
    Path jsonSchema;

    @Option(names = "--json-object", description = "keep every reply a JSON object (grammar-constrained sampling)")
    boolean jsonObject;

    @Option(names = "--json", description = "print one JSON object instead of text")
    boolean json;

    @Option(
            names = "--context",
            defaultValue = "0",
            description = "measure decode with this many tokens already cached (random "
                    + "keys/values, no prefill) instead of prefill + decode")
    int context;

    @Option(
            names = "--retrieval-ratio",
            description = "with --context: a RazorAttention cache keeping this share of KV heads full "
                    + "(chosen at random: speed does not depend on which) and "
                    + "windowing the rest; default: the full cache")
    Double retrievalRatio;

    @Option(
            names = "--profile",
            paramLabel = "PROFILE.json",
            description = "with --context: a RazorAttention cache with this head profile's "
                    + "retrieval heads full (instead of --retrieval-ratio's random "
                    + "ones) and its calibrated compensation")
    Path profile;

    @Option(
            names = "--compensation",
            defaultValue = "paper",
            description = "with --context and a Razor cache: which window heads keep the "
                    + "compensation token: calibrated (the profile's choice; needs "
                    + "--profile), paper (all), none (default: ${DEFAULT-VALUE})")
    String compensation;

    @Option(
            names = "--kv-precision",
            defaultValue = "F16",
            description = "with --context: KV cache precision, ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    KvPrecision kvPrecision;

    @Option(
            names = "--window",
            defaultValue = "4000",
            description = "window heads: minimum recent tokens S0 (default: ${DEFAULT-VALUE})")
    int window;

    @Option(
            names = "--compression",
            defaultValue = "5",
            description = "window heads: the window is max(S0, N / C) (default: ${DEFAULT-VALUE})")
    int compression;

    @Option(
            names = "--against",
            paramLabel = "FILE",
            description = "alternate with this second model in the same process (ABBA rounds) "
                    + "and report both decode speeds and the per-round ratio "
                    + "against --model; prefill + decode mode only")
    Path against;

    @Option(
            names = "--sessions",
            defaultValue = "1",
            description = "decode this many sessions at once (threads sharing forward passes) "
                    + "and compare their aggregate decode with one session's, "
                    + "round by round; prefill + decode mode only (default: " + "${DEFAULT-VALUE})")
    int sessions;

    private static String readSchema(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the JSON schema " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public Integer call() {
        if (repeats < 1 || warmups < 0) throw new IllegalArgumentException("--repeats must be >= 1 and --warmups >= 0");
        if (sessions < 1) throw new IllegalArgumentException("--sessions must be >= 1, got " + sessions);
        int n = threads.resolve();
        PrintWriter out = spec.commandLine().getOut();
        try (LoadedModel loaded = LoadedModel.open(model.resolve());
                Parallel parallel = new Parallel(n)) {
            if (context > 0) {
                if (against != null)
                    throw new IllegalArgumentException(
                            "--against works with prefill + decode runs, not with --context");
                contextBench(loaded, parallel, out);
                out.flush();
                return 0;
            }
            if (sessions > 1) {
                if (against != null)
                    throw new IllegalArgumentException("--sessions and --against are separate comparisons: pick one");
                concurrent(loaded, parallel, out);
                out.flush();
                return 0;
            }
            if (against != null) {
                try (LoadedModel other = LoadedModel.open(against)) {
                    compare(loaded, other, parallel, out);
                }
                out.flush();
                return 0;
            }
            Grammar grammar = jsonSchema != null
                    ? JsonGrammar.of(readSchema(jsonSchema))
                    : jsonObject ? JsonGrammar.anyObject() : null;
            Benchmark.Result r = Benchmark.run(loaded, promptTokens, genTokens, repeats, warmups, parallel, grammar);
            if (json) {
                out.println(String.format(
                        Locale.ROOT,
                        "{\"model\":\"%s\",\"threads\":%d,\"promptTokens\":%d,\"genTokens\":%d,\"repeats\":%d,"
                                + "\"prefillTokensPerSecond\":%.3f,\"decodeTokensPerSecond\":%.3f,"
                                + "\"prefillRuns\":%s,\"decodeRuns\":%s,\"modelBytes\":%d,\"bytesPerDecodedToken\":%d,"
                                + "\"bandwidthBytesPerSecond\":%.0f,\"ceilingTokensPerSecond\":%.3f,"
                                + "\"kernels\":\"%s\",\"isa\":\"%s\"," + "\"decodeFractionOfCeiling\":%.3f,"
                                + "\"decodeAllocatedBytesPerToken\":%d,\"grammar\":\"%s\"}",
                        jsonText(r.model()),
                        r.threads(),
                        r.promptTokens(),
                        r.genTokens(),
                        r.repeats(),
                        r.prefillTokensPerSecond(),
                        r.decodeTokensPerSecond(),
                        list(r.prefillRuns()),
                        list(r.decodeRuns()),
                        r.modelBytes(),
                        r.bytesPerDecodedToken(),
                        r.bandwidthBytesPerSecond(),
                        r.ceilingTokensPerSecond(),
                        Kernels.tier(),
                        Kernels.isa(),
                        r.decodeTokensPerSecond() / r.ceilingTokensPerSecond(),
                        r.decodeAllocatedBytesPerToken(),
                        jsonSchema != null ? "json_schema" : jsonObject ? "json_object" : "none"));
            } else {
                out.printf(
                        Locale.ROOT,
                        "model %s, %d threads, %d prompt tokens, %d generated, median of %d runs after %d warm-up%n",
                        r.model(),
                        r.threads(),
                        r.promptTokens(),
                        r.genTokens(),
                        r.repeats(),
                        warmups);
                out.printf(
                        Locale.ROOT,
                        "prefill: %.2f tokens/s   (runs: %s)%n",
                        r.prefillTokensPerSecond(),
                        list(r.prefillRuns()));
                out.printf(
                        Locale.ROOT,
                        "decode:  %.2f tokens/s   (runs: %s)%n",
                        r.decodeTokensPerSecond(),
                        list(r.decodeRuns()));
                out.printf(
                        Locale.ROOT,
                        "model: %d bytes; decode reads %d bytes/token; memory "
                                + "bandwidth %.1f GB/s -> ceiling %.1f tokens/s (decode at " + "%.0f%%)%n",
                        r.modelBytes(),
                        r.bytesPerDecodedToken(),
                        r.bandwidthBytesPerSecond() / 1e9,
                        r.ceilingTokensPerSecond(),
                        100 * r.decodeTokensPerSecond() / r.ceilingTokensPerSecond());
                out.printf(
                        Locale.ROOT,
                        "decode allocates %d bytes/token (all threads, last run)%n",
                        r.decodeAllocatedBytesPerToken());
                out.printf(Locale.ROOT, "%s%n", Kernels.describe());
            }
        }
        out.flush();
        return 0;
    }

    private void compare(LoadedModel a, LoadedModel b, Parallel parallel, PrintWriter out) {
        Benchmark.Comparison c = Benchmark.compare(a, b, promptTokens, genTokens, repeats, warmups, parallel);
        double medianA = Benchmark.median(c.decodeA()), medianB = Benchmark.median(c.decodeB());
        if (json) {
            out.println(String.format(
                    Locale.ROOT,
                    "{\"model\":\"%s\",\"against\":\"%s\",\"threads\":%d,\"promptTokens\":%d,\"genTokens\":%d,"
                            + "\"repeats\":%d,\"decodeTokensPerSecond\":%.3f,"
                            + "\"againstDecodeTokensPerSecond\":%.3f,\"decodeRuns\":%s,"
                            + "\"againstDecodeRuns\":%s,\"ratios\":%s,\"medianRatio\":%.4f,"
                            + "\"kernels\":\"%s\",\"isa\":\"%s\"}",
                    jsonText(c.a()),
                    jsonText(c.b()),
                    parallel.threads(),
                    promptTokens,
                    genTokens,
                    repeats,
                    medianA,
                    medianB,
                    list(c.decodeA()),
                    list(c.decodeB()),
                    list(c.ratios()),
                    c.medianRatio(),
                    Kernels.tier(),
                    Kernels.isa()));
        } else {
            out.printf(
                    Locale.ROOT,
                    "%s against %s, %d threads, %d prompt tokens, %d generated, %d ABBA rounds after %d warm-up%n",
                    c.a(),
                    c.b(),
                    parallel.threads(),
                    promptTokens,
                    genTokens,
                    repeats,
                    warmups);
            out.printf(Locale.ROOT, "decode %s: %.2f tokens/s   (runs: %s)%n", c.a(), medianA, list(c.decodeA()));
            out.printf(Locale.ROOT, "decode %s: %.2f tokens/s   (runs: %s)%n", c.b(), medianB, list(c.decodeB()));
            out.printf(
                    Locale.ROOT,
                    "ratio %s / %s per round: %s, median %.3f%n",
                    c.b(),
                    c.a(),
                    list(c.ratios()),
                    c.medianRatio());
            out.printf(Locale.ROOT, "%s%n", Kernels.describe());
        }
    }

    private void concurrent(LoadedModel loaded, Parallel parallel, PrintWriter out) {
        Benchmark.ConcurrentResult r =
                Benchmark.concurrent(loaded, sessions, promptTokens, genTokens, repeats, warmups, parallel);
        double single = Benchmark.median(r.single()), aggregate = Benchmark.median(r.aggregate());
        String name = loaded.gguf().path().getFileName().toString();
        if (json) {
            out.println(String.format(
                    Locale.ROOT,
                    "{\"model\":\"%s\",\"threads\":%d,\"sessions\":%d,\"promptTokens\":%d,\"genTokens\":%d,"
                            + "\"repeats\":%d,\"singleSessionDecodeTokensPerSecond\":%.3f,"
                            + "\"aggregateDecodeTokensPerSecond\":%.3f,"
                            + "\"singleRuns\":%s,\"aggregateRuns\":%s,\"ratios\":%s,"
                            + "\"medianRatio\":%.4f,\"rowsPerPass\":%.2f,"
                            + "\"kernels\":\"%s\",\"isa\":\"%s\"}",
                    jsonText(name),
                    parallel.threads(),
                    r.sessions(),
                    promptTokens,
                    genTokens,
                    repeats,
                    single,
                    aggregate,
                    list(r.single()),
                    list(r.aggregate()),
                    list(r.ratios()),
                    r.medianRatio(),
                    r.rowsPerPass(),
                    Kernels.tier(),
                    Kernels.isa()));
        } else {
            out.printf(
                    Locale.ROOT,
                    "model %s, %d threads, %d sessions at once, %d prompt "
                            + "tokens, %d generated each, %d rounds after %d warm-up%n",
                    name,
                    parallel.threads(),
                    r.sessions(),
                    promptTokens,
                    genTokens,
                    repeats,
                    warmups);
            out.printf(Locale.ROOT, "decode, one session:   %.2f tokens/s   (runs: %s)%n", single, list(r.single()));
            out.printf(
                    Locale.ROOT,
                    "decode, %d sessions:    %.2f tokens/s aggregate   (runs: %s)%n",
                    r.sessions(),
                    aggregate,
                    list(r.aggregate()));
            out.printf(
                    Locale.ROOT,
                    "aggregate / single per round: %s, median %.2fx; %.1f rows per forward pass%n",
                    list(r.ratios()),
                    r.medianRatio(),
                    r.rowsPerPass());
            out.printf(Locale.ROOT, "%s%n", Kernels.describe());
        }
    }

    private void contextBench(LoadedModel loaded, Parallel parallel, PrintWriter out) {
        var c = loaded.model().config();
        KvPolicy policy = KvPolicy.full(c.blockCount(), c.kvHeadCount());
        String name = "full";
        Compensation which = Compensation.parse("--compensation", compensation);
        if (retrievalRatio != null || profile != null) {
            if (retrievalRatio != null && profile != null)
                throw new IllegalArgumentException(
                        "--retrieval-ratio and --profile both choose the full heads: give one");
            int heads = c.blockCount() * c.kvHeadCount();
            boolean[][] retrieval, calibrated = null;
            if (profile != null) {
                if (!Files.isRegularFile(profile))
                    throw new IllegalArgumentException("profile " + profile + " does not exist");
                try {
                    HeadProfileFile.Heads chosen =
                            HeadProfileFile.read(profile, loaded.gguf().fingerprint(), c.blockCount(), c.kvHeadCount());
                    retrieval = chosen.retrieval();
                    calibrated = chosen.compensated();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            } else {
                if (retrievalRatio < 0 || retrievalRatio > 1)
                    throw new IllegalArgumentException("--retrieval-ratio must be in [0, 1]");
                retrieval = HeadSelection.random(
                        c.blockCount(), c.kvHeadCount(), HeadSelection.count(retrievalRatio, heads), 5, null);
            }
            if (which == Compensation.CALIBRATED && calibrated == null) {
                throw new IllegalArgumentException(
                        "--compensation calibrated needs a --profile with a compensation calibration");
            }
            boolean[][] compensated = which.heads(calibrated, c.blockCount(), c.kvHeadCount());
            policy = PolicyNames.parse(
                    "razor",
                    new PolicyNames.Context(
                            c.blockCount(),
                            c.kvHeadCount(),
                            retrieval,
                            null,
                            compensated,
                            null,
                            new WindowParams(4, window, compression),
                            context));
            name = String.format(
                    Locale.ROOT,
                    "razor (%d of %d heads full, window max(%d, N/%d), compensation token on %d heads: %s)",
                    HeadSelection.marked(retrieval),
                    heads,
                    window,
                    compression,
                    HeadSelection.marked(compensated),
                    which.name().toLowerCase(Locale.ROOT));
        }
        Benchmark.ContextResult r =
                Benchmark.decodeAtContext(loaded, context, genTokens, repeats, policy, kvPrecision, parallel);
        if (json) {
            out.println(String.format(
                    Locale.ROOT,
                    "{\"policy\":\"%s\",\"compensation\":\"%s\","
                            + "\"kvPrecision\":\"%s\",\"context\":%d,\"genTokens\":%d,"
                            + "\"decodeTokensPerSecond\":%.3f,"
                            + "\"decodeRuns\":%s,\"cacheBytes\":%d,\"fullCacheBytes\":%d}",
                    policy.equals(KvPolicy.full(c.blockCount(), c.kvHeadCount())) ? "full" : "razor",
                    which.name().toLowerCase(Locale.ROOT),
                    kvPrecision,
                    r.context(),
                    r.genTokens(),
                    r.decodeTokensPerSecond(),
                    list(r.runs()),
                    r.cacheBytes(),
                    r.fullCacheBytes()));
        } else {
            out.printf(
                    Locale.ROOT,
                    "%s, %s cache, %d tokens of context: decode %.2f tokens/s "
                            + "(runs: %s); cache %d bytes (full cache %d, %.2fx)%n",
                    name,
                    kvPrecision,
                    r.context(),
                    r.decodeTokensPerSecond(),
                    list(r.runs()),
                    r.cacheBytes(),
                    r.fullCacheBytes(),
                    KvPolicy.compressionRatio(r.fullCacheBytes(), r.cacheBytes()));
        }
    }

    /** {@code s} escaped for a JSON string (file names: backslashes and quotes). */
    private static String jsonText(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    private static String list(double[] xs) {
        return Arrays.stream(xs)
                .mapToObj(x -> String.format(Locale.ROOT, "%.2f", x))
                .collect(Collectors.joining(",", "[", "]"));
    }
}
