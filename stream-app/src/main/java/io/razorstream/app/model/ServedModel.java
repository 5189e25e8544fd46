package io.razorstream.app.model;

import io.razorstream.app.config.ServiceSettings;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.Compensation;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.chat.ChatFormat;
import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.Conversation;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.profile.CompensationCalibration;
import io.razorstream.engine.profile.HeadProfile;
import io.razorstream.engine.profile.HeadProfileFile;
import io.razorstream.engine.profile.HeadProfiler;
import io.razorstream.engine.profile.ProfileMethod;
import io.razorstream.engine.profile.Profiling;
import io.razorstream.engine.synth.SynthModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The model a service instance runs, with the cache policy its sessions get: the head profile's retrieval heads FULL,
 * the others windowed. With no model configured it is the synthetic retrieval model (docs/SYNTH-MODEL.md), written into
 * the data dir on first start, so nothing has to be downloaded.
 */
public record ServedModel(
        Path path,
        LoadedModel loaded,
        boolean[][] retrieval,
        boolean[][] compensated,
        String profileFingerprint,
        WindowParams window,
        KvPrecision precision,
        boolean synthetic,
        ChatFormat template)
        implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ServedModel.class);
    public static final String SYNTH_FILE = "synth-retrieval.gguf";

    public static ServedModel open(ServiceSettings settings, Parallel parallel) throws IOException {
        boolean synthetic = settings.model() == null;
        Path path;
        if (synthetic) {
            path = settings.dataDir().resolve("models").resolve(SYNTH_FILE);
            if (!Files.exists(path)) {
                Files.createDirectories(path.getParent());
                Path tmp = path.resolveSibling(SYNTH_FILE + ".tmp");
                SynthModel.write(tmp, GgmlType.F32);
                Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE);
                log.info("wrote the synthetic retrieval model to {}", path);
            }
        } else {
            path = Path.of(settings.model()).toAbsolutePath();
            if (!Files.isRegularFile(path)) throw new IllegalArgumentException("model " + path + " does not exist");
        }
        LoadedModel loaded = LoadedModel.open(path);
        try {
            int layers = loaded.model().config().blockCount(),
                    kvHeads = loaded.model().config().kvHeadCount();
            Path profile = settings.profile() == null
                    ? path.resolveSibling(path.getFileName() + ".heads.json")
                    : Path.of(settings.profile());
            boolean[][] retrieval, calibrated;
            if (Files.exists(profile)) {
                HeadProfileFile.Heads chosen =
                        HeadProfileFile.read(profile, loaded.gguf().fingerprint(), layers, kvHeads);
                retrieval = chosen.retrieval();
                calibrated = chosen.compensated();
                if (calibrated == null && settings.windowCompensation() == Compensation.CALIBRATED) {
                    log.warn(
                            "head profile {} has no compensation calibration (made by an "
                                    + "older version): no window head keeps a compensation token; "
                                    + "run `razorstream profile` again to calibrate",
                            profile);
                }
            } else if (settings.profile() != null) {
                throw new IllegalArgumentException("head profile " + profile + " does not exist");
            } else {
                // The synthetic model's heads show up with a short probe; real models get the spec's default.
                HeadProfiler.Options options =
                        synthetic ? new HeadProfiler.Options(3, 0.14, 0.01, 100) : HeadProfiler.Options.DEFAULT;
                log.info("profiling the heads of {} (once; written to {})", path.getFileName(), profile);
                long started = System.nanoTime();
                long[] lastLog = {started};
                HeadProfile made = Profiling.make(
                        loaded,
                        ProfileMethod.RAZOR,
                        options,
                        CompensationCalibration.Options.DEFAULT,
                        parallel,
                        tokens -> { // a line every 5 s: profiling a real model takes a while
                            long now = System.nanoTime();
                            if (now - lastLog[0] > 5_000_000_000L) {
                                lastLog[0] = now;
                                log.info(
                                        "profiling the heads: {} probe tokens in {} s",
                                        tokens,
                                        (now - started) / 1_000_000_000L);
                            }
                        });
                log.info("profiled the heads in {} s", (System.nanoTime() - started) / 1_000_000_000L);
                Files.writeString(profile, made.toJson());
                retrieval = made.retrieval();
                calibrated = made.compensated();
            }
            boolean[][] compensated = settings.windowCompensation().heads(calibrated, layers, kvHeads);
            int min = settings.windowMin() != null ? settings.windowMin() : synthetic ? 64 : 4000;
            int compression =
                    settings.windowCompression() != null ? settings.windowCompression() : synthetic ? 1_000_000 : 5;
            ChatFormat template = settings.chatTemplate() != null
                    ? Conversation.templateNamed(settings.chatTemplate(), loaded)
                    : synthetic ? ChatTemplate.PLAIN : Conversation.templateOf(loaded, log::warn);
            if (!synthetic && template == ChatTemplate.PLAIN && settings.chatTemplate() == null) {
                log.warn(
                        "no known chat template in {}: turns are appended as plain "
                                + "text (set chat.template to choose one)",
                        path.getFileName());
            }
            return new ServedModel(
                    path,
                    loaded,
                    retrieval,
                    compensated,
                    fingerprint(loaded.gguf().fingerprint(), retrieval, compensated),
                    new WindowParams(settings.windowSinks(), min, compression),
                    settings.kvPrecision(),
                    synthetic,
                    template);
        } catch (RuntimeException | IOException e) {
            loaded.close();
            throw e;
        }
    }

    /** The cache policy of a new session. */
    public KvPolicy policy() {
        return KvPolicy.razor(retrieval, compensated, window);
    }

    public String fingerprint() {
        return loaded.gguf().fingerprint();
    }

    public int retrievalCount() {
        int n = 0;
        for (boolean[] row : retrieval) for (boolean r : row) if (r) n++;
        return n;
    }

    /**
     * The profile's identity as sessions record it: the model, its retrieval heads, and the heads that keep a
     * compensation token.
     */
    private static String fingerprint(String model, boolean[][] retrieval, boolean[][] compensated) {
        StringBuilder sb = new StringBuilder(model);
        for (int l = 0; l < retrieval.length; l++) {
            sb.append('|');
            for (int k = 0; k < retrieval[l].length; k++)
                sb.append(retrieval[l][k] ? 'F' : compensated[l][k] ? 'c' : 'w');
        }
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(sb.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    @Override
    public void close() {
        loaded.close();
    }
}
