package io.razorstream.app.config;

import io.razorstream.app.security.ApiKeys;
import io.razorstream.app.security.Tls;
import io.razorstream.engine.attention.Compensation;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.chat.Conversation;
import io.razorstream.engine.kernel.Kernels;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * The service's settings, parsed and checked once ({@link #parse}) from a {@link ServiceConfig}: every bad value is
 * refused with a one-line message naming the setting before anything starts, and the rest of the service reads typed
 * fields, never strings. Optional values are null ({@code model}, {@code profile}, {@code chatTemplate},
 * {@code windowMin}, {@code windowCompression}: their defaults depend on the model).
 */
public record ServiceSettings(
        Path dataDir,
        String model,
        String profile,
        String bootstrapServers,
        int grpcPort,
        int httpPort,
        long httpMaxRequestBytes,
        List<String> httpModelAliases,
        String bind,
        String advertisedHost,
        String instanceId,
        String applicationId,
        String turnsTopic,
        String repliesTopic,
        String reroutedTopic,
        String deadLetterTopic,
        int topicPartitions,
        int topicReplication,
        int standbyReplicas,
        int engineThreads,
        int streamThreads,
        int maxTurnsInFlight,
        Kernels.Mode kernels,
        String chatTemplate,
        KvPrecision kvPrecision,
        int windowSinks,
        Integer windowMin,
        Integer windowCompression,
        Compensation windowCompensation,
        int blockTokens,
        long hotBytes,
        int maxSessionTokens,
        Conversation.Overflow overflow,
        int undoTurns,
        Duration sessionTtl,
        Duration expiryInterval,
        int turnMaxBytes,
        int replyDefaultTokens,
        int replyMaxTokens,
        Duration turnTimeout,
        Tls tls,
        ApiKeys apiKeys,
        boolean jsonTurnLog) {

    public static ServiceSettings parse(ServiceConfig c) {
        int block = c.getInt("store.block-tokens");
        if (block < 1 || block > 65535)
            throw new IllegalArgumentException("setting store.block-tokens must be in [1, 65535], got " + block);
        if (c.getLong("sessions.hot-bytes") < 0)
            throw new IllegalArgumentException("setting sessions.hot-bytes must be >= 0");
        int max = c.getInt("reply.max-tokens"), def = c.getInt("reply.default-tokens");
        if (max < 1 || def < 1 || def > max) {
            throw new IllegalArgumentException("settings reply.default-tokens (" + def + ") and reply.max-tokens ("
                    + max + ") must satisfy 1 <= default <= max");
        }
        if (c.getInt("turn.max-bytes") < 1) throw new IllegalArgumentException("setting turn.max-bytes must be >= 1");
        Kernels.Mode kernels = Kernels.Mode.parse(c.get("engine.kernels"));
        if (c.getInt("engine.threads") < 1) throw new IllegalArgumentException("setting engine.threads must be >= 1");
        if (c.getInt("stream.threads") < 1) throw new IllegalArgumentException("setting stream.threads must be >= 1");
        int inFlight = c.getInt("turns.max-in-flight");
        if (inFlight < 1 || inFlight > 4096)
            throw new IllegalArgumentException("setting turns.max-in-flight must be in [1, 4096], got " + inFlight);
        if (c.getInt("sessions.max-tokens") < 0)
            throw new IllegalArgumentException(
                    "setting sessions.max-tokens must be >= 0 (0: the model's context length)");
        int undo = c.getInt("session.undo-turns");
        if (undo < 0 || undo > 64)
            throw new IllegalArgumentException("setting session.undo-turns must be in [0, 64], got " + undo);
        KvPrecision precision;
        try {
            precision = KvPrecision.valueOf(c.get("kv.precision").toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "setting kv.precision must be F32, F16 or Q8, got '" + c.get("kv.precision") + "'");
        }
        for (String key : new String[] {"topic.partitions", "topic.replication"}) {
            if (c.getInt(key) < 1) throw new IllegalArgumentException("setting " + key + " must be >= 1");
        }
        if (c.getInt("standby.replicas") < 0)
            throw new IllegalArgumentException("setting standby.replicas must be >= 0");
        if (c.getInt("grpc.port") < 0 || c.getInt("grpc.port") > 65535)
            throw new IllegalArgumentException("setting grpc.port must be in [0, 65535]");
        if (c.getInt("http.port") < 0 || c.getInt("http.port") > 65535)
            throw new IllegalArgumentException("setting http.port must be in [0, 65535] (0: off)");
        if (c.getLong("http.max-request-bytes") < 1024)
            throw new IllegalArgumentException("setting http.max-request-bytes must be >= 1024");
        String bind = c.get("bind").isBlank()
                ? (c.get("bootstrap.servers").isBlank() ? "127.0.0.1" : "0.0.0.0")
                : c.get("bind").trim();
        return new ServiceSettings(
                c.dataDir(),
                blankToNull(c.get("model")),
                blankToNull(c.get("profile")),
                c.get("bootstrap.servers"),
                c.getInt("grpc.port"),
                c.getInt("http.port"),
                c.getLong("http.max-request-bytes"),
                java.util.Arrays.stream(c.get("http.model-aliases").split(","))
                        .map(String::trim)
                        .filter(a -> !a.isEmpty())
                        .toList(),
                bind,
                c.get("advertised.host"),
                c.get("instance.id"),
                c.get("application.id"),
                c.get("topic.turns"),
                c.get("topic.replies"),
                c.get("topic.turns-rerouted"),
                c.get("topic.dead-letters"),
                c.getInt("topic.partitions"),
                c.getInt("topic.replication"),
                c.getInt("standby.replicas"),
                c.getInt("engine.threads"),
                c.getInt("stream.threads"),
                inFlight,
                kernels,
                blankToNull(c.get("chat.template")),
                precision,
                c.getInt("window.sinks"),
                c.get("window.min").isEmpty() ? null : c.getInt("window.min"),
                c.get("window.compression").isEmpty() ? null : c.getInt("window.compression"),
                Compensation.parse("setting window.compensation", c.get("window.compensation")),
                block,
                c.getLong("sessions.hot-bytes"),
                c.getInt("sessions.max-tokens"),
                overflow(c.get("session.overflow")),
                undo,
                c.getDuration("sessions.ttl"),
                c.getDuration("sessions.expiry-interval"),
                c.getInt("turn.max-bytes"),
                def,
                max,
                c.getDuration("turn.timeout"),
                Tls.of(path(c, "tls.cert-file"), path(c, "tls.key-file"), path(c, "tls.ca-file")),
                path(c, "auth.keys-file") == null ? null : ApiKeys.load(path(c, "auth.keys-file")),
                jsonTurnLog(c.get("log.turns")));
    }

    private static Conversation.Overflow overflow(String value) {
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "shift" -> Conversation.Overflow.SHIFT;
            case "refuse" -> Conversation.Overflow.REFUSE;
            default ->
                throw new IllegalArgumentException(
                        "setting session.overflow must be shift or refuse, got '" + value + "'");
        };
    }

    private static boolean jsonTurnLog(String value) {
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "text" -> false;
            case "json" -> true;
            default ->
                throw new IllegalArgumentException("setting log.turns must be text or json, got '" + value + "'");
        };
    }

    private static Path path(ServiceConfig c, String key) {
        return c.get(key).isBlank() ? null : Path.of(c.get(key).trim());
    }

    private static String blankToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }
}
