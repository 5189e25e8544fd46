package io.razorstream.engine.cli;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.profile.CompensationCalibration;
import io.razorstream.engine.profile.HeadProfile;
import io.razorstream.engine.profile.HeadProfiler;
import io.razorstream.engine.profile.ProfileMethod;
import io.razorstream.engine.profile.Profiling;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(
        name = "profile",
        mixinStandardHelpOptions = true,
        description = "Find a model's retrieval heads (echo/induction probe, "
                + "retrieval score, DuoAttention gates or masking influence), "
                + "calibrate which window heads get the compensation token; "
                + "write the head profile (JSON) and optionally a heatmap.")
final class ProfileCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Mixin
    ThreadsOption threads;

    @Option(
            names = "--out",
            paramLabel = "PROFILE.json",
            description = "where to write the profile (default: next to the model, MODEL.heads.json)")
    Path out;

    @Option(
            names = "--plot",
            paramLabel = "heads.png",
            description =
                    "also draw layers x heads heatmaps: the method's scores, the chosen heads, the compensated heads")
    Path plot;

    @Option(
            names = "--method",
            defaultValue = "razor",
            paramLabel = "METHOD",
            description = "razor (echo/induction on repeated random tokens), "
                    + "retrieval-score (Wu et al.: top-1 attention on the needle " + "token being copied), "
                    + "duo (DuoAttention gates, optimised with the weights "
                    + "frozen), influence (the rise of the needle's loss when the " + "head is masked); "
                    + "default: ${DEFAULT-VALUE}")
    String method;

    @Option(
            names = "--calibration-tokens",
            defaultValue = "1024",
            description = "tokens of the model's own text on which each window head's "
                    + "compensation token is tried; 0: none get it (default: " + "${DEFAULT-VALUE})")
    int calibrationTokens;

    @Option(
            names = "--seeds",
            defaultValue = "3",
            description = "razor: probe sequences averaged; the needle methods: "
                    + "haystacks, each with needles at 3 depths (default: " + "${DEFAULT-VALUE})")
    int seeds;

    @Option(names = "--period", defaultValue = "0", description = "probe length K (default: min(2500, (context-1)/4))")
    int period;

    @Option(
            names = "--induction-ratio",
            defaultValue = "0.14",
            description =
                    "share of KV heads kept by induction score, or by the method's score (default: ${DEFAULT-VALUE})")
    double inductionRatio;

    @Option(
            names = "--echo-ratio",
            defaultValue = "0.01",
            description = "razor: share of KV heads kept by echo score (default: ${DEFAULT-VALUE})")
    double echoRatio;

    @Override
    public Integer call() throws IOException {
        HeadProfiler.Options options = new HeadProfiler.Options(seeds, inductionRatio, echoRatio, period);
        ProfileMethod chosen = ProfileMethod.parse(method);
        if (calibrationTokens < 0) throw new IllegalArgumentException("--calibration-tokens must be >= 0");
        CompensationCalibration.Options calibration =
                calibrationTokens == 0 ? null : CompensationCalibration.Options.tokens(calibrationTokens);
        Path modelPath = model.resolve();
        Path target = out != null ? out : modelPath.resolveSibling(modelPath.getFileName() + ".heads.json");
        try (LoadedModel loaded = LoadedModel.open(modelPath);
                Parallel parallel = new Parallel(threads.resolve())) {
            HeadProfile profile;
            if (chosen == ProfileMethod.RAZOR) {
                int k = HeadProfiler.period(loaded.model().config(), options);
                long total = (long) seeds * (4L * k + 1);
                try (ProgressBar bar = new ProgressBarBuilder()
                        .setTaskName("probing")
                        .setInitialMax(total)
                        .setUnit(" tok", 1)
                        .setStyle(ProgressBarStyle.ASCII)
                        .continuousUpdate()
                        .build()) {
                    profile = Profiling.make(loaded, chosen, options, calibration, parallel, bar::stepTo);
                }
            } else {
                spec.commandLine()
                        .getErr()
                        .printf(
                                "profiling with %s on %d needle probes (sampling the "
                                        + "haystacks, then the passes it needs)%n",
                                chosen.label(), 3 * seeds);
                spec.commandLine().getErr().flush();
                profile = Profiling.make(loaded, chosen, options, calibration, parallel, null);
            }
            Files.writeString(target, profile.toJson());
            spec.commandLine()
                    .getErr()
                    .printf(
                            "wrote %s: %d of %d KV heads are retrieval heads (method "
                                    + "%s), %d window heads keep a compensation token%n",
                            target,
                            profile.retrievalCount(),
                            profile.layers() * profile.kvHeads(),
                            chosen.label(),
                            HeadSelection.marked(profile.compensated()));
            if (plot != null) {
                HeadmapPlot.write(profile, plot);
                spec.commandLine().getErr().printf("wrote %s%n", plot);
            }
            spec.commandLine().getErr().flush();
        }
        return 0;
    }
}
