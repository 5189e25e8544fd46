package io.razorstream.app.config;

import org.apache.commons.text.similarity.LevenshteinDistance;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * The service's settings. Every one has a default that works on one laptop; a properties file, then environment
 * variables ({@code RAZORSTREAM_} + the key upper-cased with dots as underscores, e.g. {@code RAZORSTREAM_GRPC_PORT}),
 * then command-line flags override it, in that order.
 */
public final class ServiceConfig {
    /** Every key with its default and what it means (printed by {@code serve --help-config}). */
    public static final Map<String, String[]> KEYS = new LinkedHashMap<>();

    static {
        key(
                "model",
                "",
                "GGUF model file; empty: the synthetic retrieval model, generated into the data dir on first start");
        key(
                "profile",
                "",
                "head profile (JSON) of the model; empty: the model's own '<model>.heads.json' or a new profile");
        key(
                "bootstrap.servers",
                "",
                "Kafka bootstrap servers; empty: start an embedded single-node broker in the data dir");
        key("grpc.port", "7070", "gRPC port (0: any free port)");
        key(
                "http.port",
                "8080",
                "OpenAI-compatible HTTP port (POST /v1/chat/completions, GET "
                        + "/v1/models, GET /metrics), on the same bind address as " + "gRPC; 0: off");
        key(
                "http.max-request-bytes",
                String.valueOf(32L << 20),
                "largest HTTP request body (OpenAI clients resend the whole conversation each time)");
        key(
                "http.model-aliases",
                "",
                "further names GET /v1/models lists for the served model (comma-separated); a request may name any "
                        + "model, as with llama.cpp's server: one model is served");
        key(
                "bind",
                "",
                "address the gRPC and HTTP ports listen on; empty: 127.0.0.1 "
                        + "with the embedded broker (one local instance), 0.0.0.0 (all "
                        + "interfaces) with bootstrap.servers set");
        key(
                "auth.keys-file",
                "",
                "API keys: a file of 'KEY TENANT' lines; when set, every "
                        + "gRPC and HTTP call needs 'authorization: Bearer KEY' and "
                        + "sees only its tenant's sessions; empty: no keys");
        key(
                "tls.cert-file",
                "",
                "PEM certificate chain for TLS on the gRPC and HTTP ports (with tls.key-file); empty: plaintext");
        key("tls.key-file", "", "PEM PKCS#8 private key of tls.cert-file");
        key("tls.ca-file", "", "PEM CA certificates instances trust when calling each other; empty: tls.cert-file");
        key(
                "advertised.host",
                "localhost",
                "host name other instances use to reach this one's gRPC port (application.server)");
        key(
                "data.dir",
                "razorstream-data",
                "state: the embedded broker's logs, Kafka Streams' RocksDB stores, the generated model");
        key(
                "instance.id",
                "",
                "this instance's static group member id (unique per "
                        + "instance, e.g. the pod name); empty: made on first start, "
                        + "kept in DATA_DIR/instance.id");
        key(
                "application.id",
                "razorstream",
                "Kafka Streams application id: instances with the same id share the sessions");
        key("topic.turns", "razorstream.turns", "turns topic (TurnEvent, keyed by session id)");
        key("topic.replies", "razorstream.replies", "replies topic (ReplyEvent, keyed by session id)");
        key(
                "topic.turns-rerouted",
                "razorstream.turns.rerouted",
                "turns a producer put in another partition than their "
                        + "session's are moved here (as many partitions as the turns " + "topic)");
        key(
                "topic.dead-letters",
                "razorstream.dead-letters",
                "malformed or rejected turns, with the reason in the 'razorstream.error' header");
        key(
                "topic.partitions",
                "8",
                "partitions of the topics the service creates (sessions "
                        + "spread over them, and so over stream threads and instances)");
        key(
                "topic.replication",
                "1",
                "replication factor of the topics the service creates (and of Streams' changelogs)");
        key("standby.replicas", "0", "Kafka Streams standby replicas (warm copies of the session stores)");
        key(
                "engine.threads",
                String.valueOf(Math.max(1, Runtime.getRuntime().availableProcessors())),
                "threads of the inference engine");
        // Stream threads move records, load and write sessions, emit replies; turns run on turn threads, so neither
        // this nor topic.partitions limits how many run at once (turns.max-in-flight does).
        key(
                "stream.threads",
                "2",
                "Kafka Streams threads (they accept turns, load and write "
                        + "sessions and emit replies; the turns themselves run on turn " + "threads)");
        key(
                "turns.max-in-flight",
                "64",
                "turns this instance runs at once, over all partitions (each session one at a time, in order); "
                        + "they share the engine's forward passes, so up to this many sessions decode in one pass");
        key(
                "engine.kernels",
                "auto",
                "kernel tier: auto (native when its library loads and the CPU has AVX2), native or java");
        key(
                "chat.template",
                "",
                "chat template: jinja (the model's own tokenizer.chat_template), or a built-in family: chatml, qwen3, "
                        + "qwen3-no-think, gemma, llama3, llama2, mistral, phi3, zephyr or plain; empty: the model's own "
                        + "template, else the family its markers name (plain for the synthetic model)");
        key("kv.precision", "F16", "KV cache storage precision: F32, F16 or Q8");
        key("window.sinks", "4", "window heads: sink tokens (N0)");
        key(
                "window.min",
                "",
                "window heads: minimum recent tokens S0; empty: 64 for the synthetic model, 4000 otherwise");
        key(
                "window.compensation",
                "calibrated",
                "window heads' compensation token: calibrated (where the head profile's calibration "
                        + "measured that it helps), paper (every window head, as the "
                        + "paper specifies; it can break retrieval: docs/FIDELITY.md), " + "none");
        key(
                "window.compression",
                "",
                "window heads: the window is max(S0, N / C); empty: 1000000 "
                        + "for the synthetic model (fixed window), 5 otherwise");
        key("store.block-tokens", "32", "tokens per stored block");
        // A third of the heap: a session's decoded cache is several times its stored bytes (floats, undo records), and
        // 8 sessions of 16k tokens on the synthetic model already outgrow a fixed 1 GiB (each turn then reloads one).
        key(
                "sessions.hot-bytes",
                String.valueOf(Math.max(256L << 20, Runtime.getRuntime().maxMemory() / 3)),
                "memory for decoded sessions (LRU); default: a third of the JVM's maximum heap");
        key("sessions.max-tokens", "0", "positions a session may use, in tokens; 0: the model's context length");
        key(
                "session.overflow",
                "shift",
                "a turn that would go past sessions.max-tokens: shift (give back a quarter of the positions, "
                        + "folding the oldest tokens into compensation tokens, as "
                        + "llama.cpp's context shift) or refuse");
        key(
                "session.undo-turns",
                "4",
                "turns of each session that Rollback (and Chat regenerate) can take back; their undo records "
                        + "(the window entries they evicted, the compensation sums "
                        + "before them) are stored with the session; 0: off");
        key("sessions.ttl", "P7D", "sessions idle longer than this are deleted (ISO-8601 duration)");
        key("sessions.expiry-interval", "PT1M", "how often idle sessions are looked for");
        key("turn.max-bytes", "262144", "largest turn text accepted (UTF-8 bytes)");
        key("reply.default-tokens", "64", "reply length when a turn does not say");
        key("reply.max-tokens", "2048", "largest reply length a turn may ask for");
        key(
                "log.turns",
                "text",
                "the log line of each turn: text (key=value words) or json (one JSON object, for log shippers)");
        key("turn.timeout", "PT10M", "how long a Chat waits for its turn to be processed");
    }

    /**
     * {@code RAZORSTREAM_*} variables that are not settings but are read by the launcher (bin/razorstream,
     * bin/lib/common.sh) or the tests: never warned about.
     */
    public static final Set<String> NOT_SETTINGS = Set.of(
            "RAZORSTREAM_JAVA_OPTS",
            "RAZORSTREAM_PRINT_JDK",
            "RAZORSTREAM_JVM_DIR",
            "RAZORSTREAM_DRY_RUN",
            "RAZORSTREAM_API_KEY",
            "RAZORSTREAM_MIN_JDK",
            "RAZORSTREAM_SHARED");

    private static final String ENV_PREFIX = "RAZORSTREAM_";

    private static void key(String name, String def, String doc) {
        KEYS.put(name, new String[] {def, doc});
    }

    private final Map<String, String> values = new LinkedHashMap<>();
    private final List<String> warnings = new ArrayList<>();

    private ServiceConfig() {
        KEYS.forEach((k, v) -> values.put(k, v[0]));
    }

    /** Defaults, then {@code file} (may be null), then the environment, then {@code flags}. */
    public static ServiceConfig load(Path file, Map<String, String> env, Map<String, String> flags) throws IOException {
        ServiceConfig c = new ServiceConfig();
        if (file != null) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(file)) {
                p.load(r);
            }
            for (String k : p.stringPropertyNames()) c.set(k, p.getProperty(k), "config file " + file);
        }
        for (String k : KEYS.keySet()) {
            String v = env.get(envName(k));
            if (v != null) c.set(k, v, "environment variable " + envName(k));
        }
        c.warnings.addAll(unknownEnvironment(env));
        flags.forEach((k, v) -> c.set(k, v, "flag"));
        return c;
    }

    /** What {@link #load} found worth telling the user but not worth refusing (unknown RAZORSTREAM_* variables). */
    public List<String> warnings() {
        return List.copyOf(warnings);
    }

    /**
     * One message per environment variable that looks like a setting ({@code RAZORSTREAM_*}, any case) but is none,
     * naming the closest setting's variable when there is a plausible one. Such a variable would otherwise be ignored
     * without a word (a typo in a deployment manifest).
     */
    public static List<String> unknownEnvironment(Map<String, String> env) {
        Set<String> known = new TreeSet<>();
        KEYS.keySet().forEach(k -> known.add(envName(k)));
        List<String> out = new ArrayList<>();
        for (String name : new TreeSet<>(env.keySet())) {
            if (!name.toUpperCase(Locale.ROOT).startsWith(ENV_PREFIX)
                    || known.contains(name)
                    || NOT_SETTINGS.contains(name)) continue;
            String closest = closest(name.toUpperCase(Locale.ROOT), known);
            out.add("environment variable " + name + " is not a setting and is ignored"
                    + (closest != null ? " (did you mean " + closest + "?)" : "")
                    + "; the settings: razorstream serve --settings");
        }
        return out;
    }

    /** The known name nearest to {@code name} (Levenshtein distance after the prefix), or null when none is near. */
    static String closest(String name, Set<String> known) {
        String suffix = name.substring(ENV_PREFIX.length());
        LevenshteinDistance levenshtein = LevenshteinDistance.getDefaultInstance();
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String k : known) {
            String ks = k.substring(ENV_PREFIX.length());
            int d = levenshtein.apply(suffix, ks);
            boolean near = d <= Math.max(2, ks.length() / 3)
                    || (suffix.length() >= 4 && (suffix.contains(ks) || ks.contains(suffix)));
            if (near && d < bestDistance) {
                best = k;
                bestDistance = d;
            }
        }
        return best;
    }

    public static ServiceConfig defaults() {
        return new ServiceConfig();
    }

    public static String envName(String key) {
        return "RAZORSTREAM_" + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    public ServiceConfig set(String key, String value, String source) {
        if (!KEYS.containsKey(key))
            throw new IllegalArgumentException(
                    "unknown setting '" + key + "' (from " + source + "); known: " + String.join(", ", KEYS.keySet()));
        values.put(key, value.trim());
        return this;
    }

    public String get(String key) {
        if (!KEYS.containsKey(key)) throw new IllegalArgumentException("unknown setting " + key);
        return values.get(key);
    }

    public int getInt(String key) {
        try {
            return Integer.parseInt(get(key));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("setting " + key + " must be a whole number, got '" + get(key) + "'");
        }
    }

    public long getLong(String key) {
        try {
            return Long.parseLong(get(key));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("setting " + key + " must be a whole number, got '" + get(key) + "'");
        }
    }

    public Duration getDuration(String key) {
        try {
            return Duration.parse(get(key));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(
                    "setting " + key + " must be an ISO-8601 duration such as PT10M or P7D, got '" + get(key) + "'");
        }
    }

    public Path dataDir() {
        return Path.of(get("data.dir")).toAbsolutePath();
    }

    public Map<String, String> asMap() {
        return Map.copyOf(values);
    }
}
