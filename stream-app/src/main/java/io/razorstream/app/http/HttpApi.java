package io.razorstream.app.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.util.JavalinBindException;
import io.razorstream.app.security.Tenants;
import io.razorstream.app.security.Tls;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import jakarta.servlet.http.HttpServletResponse;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The OpenAI-compatible HTTP port: {@code POST /v1/chat/completions} and {@code POST /v1/completions} (JSON or
 * server-sent events), {@code GET /v1/models}, {@code GET /health} and, when given, {@code GET /metrics} (Prometheus
 * text). Every call goes to the gRPC service in process, so turns take the one path into a session. Javalin (on Jetty)
 * because it is small, embeds in a few lines, streams a response with plain blocking writes, and is well kept; see
 * docs/HTTP.md.
 */
public final class HttpApi implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HttpApi.class);
    /** A non-streamed answer can take minutes of prefill: the connection must not time out under it. */
    private static final Duration IDLE_TIMEOUT = Duration.ofMinutes(15);

    private static final String ANSWERED = "razorstream.error-answered";

    private final Javalin app;
    private final ManagedChannel channel;
    private final ObjectMapper json = new ObjectMapper();
    private final ChatCompletions chat;
    private final String modelName;
    /** The names GET /v1/models lists: the file's name, without .gguf, and the configured aliases. */
    private final List<String> modelNames;

    private final long modelCreated;
    private final Supplier<String> metrics;

    private HttpApi(
            ManagedChannel channel,
            String modelName,
            List<String> aliases,
            long modelCreated,
            Supplier<String> metrics,
            String host,
            int port,
            Tls tls,
            Tenants tenants,
            long maxRequestBytes) {
        this.channel = channel;
        this.modelName = modelName;
        Set<String> names = new LinkedHashSet<>(List.of(modelName, modelName.replaceFirst("\\.gguf$", "")));
        names.addAll(aliases);
        this.modelNames = List.copyOf(names);
        this.modelCreated = modelCreated;
        this.metrics = metrics;
        this.chat = new ChatCompletions(MemoryServiceGrpc.newBlockingStub(channel), json, modelName);
        this.app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            // OpenAI clients resend the whole conversation each time: a long one outgrows Javalin's 1 MB default
            config.http.maxRequestSize = maxRequestBytes;
            config.jetty.addConnector((server, http) -> {
                ServerConnector c = tls == null
                        ? new ServerConnector(server, new HttpConnectionFactory(http))
                        : new ServerConnector(server, tls.jetty(), new HttpConnectionFactory(http));
                c.setHost(host);
                c.setPort(port);
                c.setIdleTimeout(IDLE_TIMEOUT.toMillis());
                return c;
            });
            // With API keys on, the /v1 routes need one (the gRPC service checks it again on each call); /health and
            // /metrics stay open.
            config.routes.before("/v1/*", ctx -> {
                if (tenants.tenantOfHeader(ctx.header("Authorization")).isEmpty()) {
                    throw new ApiError(
                            401,
                            "authentication_error",
                            "invalid_api_key",
                            ctx.header("Authorization") == null
                                    ? "no API key: send the header 'Authorization: Bearer KEY'"
                                    : "the API key is not valid");
                }
            });
            config.routes.post("/v1/chat/completions", this::chatCompletions);
            config.routes.post("/v1/completions", this::completions);
            config.routes.get("/v1/models", this::models);
            config.routes.get("/v1/models/{model}", this::model);
            config.routes.get("/health", ctx -> ctx.json(json.createObjectNode().put("status", "ok")));
            if (metrics != null)
                config.routes.get(
                        "/metrics",
                        ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8")
                                .result(metrics.get()));
            config.routes.exception(ApiError.class, (e, ctx) -> error(ctx, e));
            config.routes.exception(StatusRuntimeException.class, (e, ctx) -> error(ctx, ApiError.of(e)));
            config.routes.exception(Exception.class, (e, ctx) -> {
                log.error("HTTP {} {} failed", ctx.method(), ctx.path(), e);
                error(ctx, new ApiError(500, "server_error", null, e.toString()));
            });
            config.routes.error(404, ctx -> {
                if (ctx.attribute(ANSWERED) == null)
                    error(
                            ctx,
                            new ApiError(404, "not_found_error", null, "no route " + ctx.method() + " " + ctx.path()));
            });
            config.routes.error(
                    413,
                    ctx -> error(
                            ctx,
                            new ApiError(
                                    413,
                                    "invalid_request_error",
                                    "request_too_large",
                                    "the request body is larger than " + maxRequestBytes
                                            + " bytes (setting http.max-request-bytes)")));
            config.routes.error(
                    405,
                    ctx -> error(
                            ctx,
                            new ApiError(
                                    405,
                                    "invalid_request_error",
                                    null,
                                    "method " + ctx.method() + " not allowed on " + ctx.path())));
        });
    }

    /** Starts listening on {@code host:port}; calls go to {@code channel} (closed with this). */
    public static HttpApi start(
            ManagedChannel channel,
            String modelName,
            List<String> aliases,
            long modelCreatedSeconds,
            Supplier<String> metrics,
            String host,
            int port,
            Tls tls,
            Tenants tenants,
            long maxRequestBytes) {
        HttpApi api = new HttpApi(
                channel, modelName, aliases, modelCreatedSeconds, metrics, host, port, tls, tenants, maxRequestBytes);
        try {
            api.app.start();
        } catch (JavalinBindException e) {
            api.close();
            throw new IllegalArgumentException("HTTP port " + port + " on " + host
                    + " is in use: pick another (--http-port, setting http.port) or 0 to turn HTTP off");
        }
        log.info(
                "OpenAI-compatible HTTP{} on {}:{} (POST /v1/chat/completions, POST /v1/completions, GET /v1/models{})",
                tls == null ? "" : "S",
                host,
                port,
                metrics == null ? "" : ", GET /metrics");
        return api;
    }

    private void chatCompletions(Context ctx) throws IOException {
        ChatCompletions.Request req = chat.parse(ctx.body(), ctx.header(ChatCompletions.SESSION_HEADER));
        String id = "chatcmpl-" + UUID.randomUUID();
        long created = System.currentTimeMillis() / 1000;
        answer(ctx, req, new Shapes() {
            @Override
            public ObjectNode whole(ChatCompletions.Answer a) {
                return chat.completion(a, id, created, req.sessionId());
            }

            @Override
            public ObjectNode first() {
                return chat.chunk(id, created, "assistant", "", null);
            }

            @Override
            public ObjectNode delta(String text) {
                return chat.chunk(id, created, null, text, null);
            }

            @Override
            public List<ObjectNode> last(ChatCompletions.Answer a) {
                // the log probabilities, when asked for, come whole with the last chunk (the deltas are text, not
                // tokens)
                ObjectNode end = chat.chunk(id, created, null, null, ChatCompletions.finishReason(a.finish()));
                chat.putLogprobs((ObjectNode) end.get("choices").get(0), a.logprobs());
                if (!req.includeUsage()) return List.of(end);
                ObjectNode usage = chat.chunk(id, created, null, null, null);
                usage.putArray("choices");
                usage.set("usage", chat.usage(a));
                return List.of(end, usage);
            }
        });
    }

    /** {@code POST /v1/completions}: a prompt continued as it is (no chat template), one-off or on a named session. */
    private void completions(Context ctx) throws IOException {
        ChatCompletions.Request req = chat.parseCompletion(ctx.body(), ctx.header(ChatCompletions.SESSION_HEADER));
        String id = "cmpl-" + UUID.randomUUID();
        long created = System.currentTimeMillis() / 1000;
        answer(ctx, req, new Shapes() {
            @Override
            public ObjectNode whole(ChatCompletions.Answer a) {
                return chat.textCompletion(a, id, created, req.sessionId());
            }

            @Override
            public ObjectNode first() {
                return null;
            }

            @Override
            public ObjectNode delta(String text) {
                return chat.textChunk(id, created, text, null);
            }

            @Override
            public List<ObjectNode> last(ChatCompletions.Answer a) {
                ObjectNode end = chat.textChunk(id, created, "", ChatCompletions.finishReason(a.finish()));
                if (req.includeUsage()) end.set("usage", chat.usage(a));
                return List.of(end);
            }
        });
    }

    /** How an endpoint's answer looks: whole, or as server-sent events (an opening event or null, deltas, the end). */
    private interface Shapes {
        ObjectNode whole(ChatCompletions.Answer a);

        ObjectNode first();

        ObjectNode delta(String text);

        List<ObjectNode> last(ChatCompletions.Answer a);
    }

    /**
     * Runs {@code req} and answers in its endpoint's {@code shapes}. Streamed, the status and headers go with the first
     * event, so an error before any text is still a plain error response; an error after it is the stream's last event.
     */
    private void answer(Context ctx, ChatCompletions.Request req, Shapes shapes) throws IOException {
        if (req.sessionId() != null) ctx.header(ChatCompletions.SESSION_HEADER, req.sessionId());
        if (!req.stream()) {
            ChatCompletions.Answer a = chat.run(req, null, ctx.header("Authorization"));
            ctx.contentType("application/json").result(json.writeValueAsString(shapes.whole(a)));
            return;
        }
        HttpServletResponse res = ctx.res();
        OutputStream[] out = {null};
        ChatCompletions.Deltas deltas = text -> {
            if (out[0] == null) {
                out[0] = startEvents(res);
                ObjectNode first = shapes.first();
                if (first != null) ChatCompletions.event(out[0], json.writeValueAsString(first));
            }
            if (!text.isEmpty()) ChatCompletions.event(out[0], json.writeValueAsString(shapes.delta(text)));
        };
        try {
            ChatCompletions.Answer a = chat.run(req, deltas, ctx.header("Authorization"));
            deltas.delta("");
            for (ObjectNode end : shapes.last(a)) ChatCompletions.event(out[0], json.writeValueAsString(end));
            ChatCompletions.event(out[0], "[DONE]");
        } catch (ApiError | StatusRuntimeException e) {
            if (out[0] == null) throw e;
            ApiError err = e instanceof ApiError x ? x : ApiError.of((StatusRuntimeException) e);
            ChatCompletions.event(out[0], json.writeValueAsString(errorBody(err)));
        }
    }

    private static OutputStream startEvents(HttpServletResponse res) throws IOException {
        res.setStatus(200);
        res.setContentType("text/event-stream");
        res.setCharacterEncoding("utf-8");
        res.setHeader("Cache-Control", "no-cache");
        return res.getOutputStream();
    }

    private void models(Context ctx) throws IOException {
        ObjectNode root = json.createObjectNode().put("object", "list");
        var data = root.putArray("data");
        for (String name : modelNames) data.add(modelObject(name));
        ctx.contentType("application/json").result(json.writeValueAsString(root));
    }

    private void model(Context ctx) throws IOException {
        if (!modelNames.contains(ctx.pathParam("model"))) {
            throw new ApiError(
                    404,
                    "not_found_error",
                    "model_not_found",
                    "the model '" + ctx.pathParam("model") + "' is not listed; this server serves '" + modelName
                            + "' as " + String.join(", ", modelNames));
        }
        ctx.contentType("application/json").result(json.writeValueAsString(modelObject(ctx.pathParam("model"))));
    }

    private ObjectNode modelObject(String name) {
        return json.createObjectNode()
                .put("id", name)
                .put("object", "model")
                .put("created", modelCreated)
                .put("owned_by", "razorstream");
    }

    private ObjectNode errorBody(ApiError e) {
        ObjectNode root = json.createObjectNode();
        ObjectNode err = root.putObject("error").put("message", e.getMessage()).put("type", e.type);
        err.putNull("param");
        if (e.code == null) err.putNull("code");
        else err.put("code", e.code);
        return root;
    }

    private void error(Context ctx, ApiError e) {
        ctx.attribute(ANSWERED, Boolean.TRUE); // the status handlers leave an answered error alone
        try {
            ctx.status(e.status).contentType("application/json").result(json.writeValueAsString(errorBody(e)));
        } catch (IOException io) {
            throw new UncheckedIOException(io);
        }
    }

    public int port() {
        return ((ServerConnector) app.jettyServer().server().getConnectors()[0]).getLocalPort();
    }

    @Override
    public void close() {
        app.stop();
        channel.shutdown();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
