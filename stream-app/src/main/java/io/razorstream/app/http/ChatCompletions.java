package io.razorstream.app.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.razorstream.app.security.Tenants;
import io.razorstream.app.turn.ResponseFormats;
import io.razorstream.engine.chat.Message;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.AppendTurnsResponse;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.DeleteSessionRequest;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.HistoryCondition;
import io.razorstream.proto.v1.MemoryServiceGrpc.MemoryServiceBlockingStub;
import io.razorstream.proto.v1.RecentTurn;
import io.razorstream.proto.v1.Role;
import io.razorstream.proto.v1.RollbackRequest;
import io.razorstream.proto.v1.SessionInfo;
import io.razorstream.proto.v1.TokenLogprob;
import io.razorstream.proto.v1.TopLogprob;
import io.razorstream.proto.v1.Turn;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * {@code POST /v1/chat/completions}: an OpenAI chat request becomes turns of a session, sent through the same gRPC
 * service (in process) as every other call, so the turns are Kafka events whatever door they came in by.
 *
 * <p>The session is named by the {@code X-Session-Id} header (or a {@code session_id} body field); the message list is
 * matched against it ({@link HistoryMatch}) and only what it lacks is prefilled. Without a session id the request is a
 * one-off: its own session, deleted afterwards.
 */
final class ChatCompletions {
    static final String SESSION_HEADER = "X-Session-Id";

    private final MemoryServiceBlockingStub base;
    private final ObjectMapper json;
    private final String modelName;

    ChatCompletions(MemoryServiceBlockingStub service, ObjectMapper json, String modelName) {
        this.base = service;
        this.json = json;
        this.modelName = modelName;
    }

    /** A parsed request: what to send and how to answer. */
    record Request(
            List<HistoryMatch.Message> messages,
            GenerationParams params,
            boolean stream,
            boolean includeUsage,
            String sessionId,
            boolean raw) {}

    /**
     * OpenAI's {@code response_format}: {@code text}, {@code json_object}, or {@code json_schema} (its
     * {@code json_schema.schema}), the last two kept by grammar-constrained sampling.
     */
    static void responseFormat(JsonNode rf, GenerationParams.Builder p) {
        if (rf == null || rf.isNull()) return;
        String type = rf.path("type").asText("");
        switch (type) {
            case "text" -> {}
            case "json_object" -> p.setJsonObject(true);
            case "json_schema" -> {
                JsonNode schema = rf.path("json_schema").get("schema");
                if (schema == null || schema.isNull())
                    throw ApiError.invalid("response_format.json_schema.schema is required for type json_schema");
                p.setJsonSchema(schema.toString());
                try { // compiled once here, into the cache the turn then takes it from
                    ResponseFormats.grammar(p.build());
                } catch (IllegalArgumentException e) {
                    throw ApiError.invalid("response_format.json_schema.schema: " + e.getMessage());
                }
            }
            default ->
                throw ApiError.invalid(
                        "response_format.type must be text, json_object or json_schema, got '" + type + "'");
        }
    }

    /** What a completed turn gives the client. */
    record Answer(
            String turnId,
            String text,
            int promptTokens,
            int completionTokens,
            long cachedTokens,
            FinishReason finish,
            List<TokenLogprob> logprobs) {
        /** The reply {@code done} gave, after {@code earlierPrompt} tokens appended before it, on {@code cached}. */
        static Answer of(ChatDone done, int earlierPrompt, long cached) {
            return new Answer(
                    done.getTurnId(),
                    done.getText(),
                    earlierPrompt + done.getPromptTokens(),
                    done.getCompletionTokens(),
                    cached,
                    done.getFinishReason(),
                    done.getLogprobsList());
        }
    }

    /** Receives the reply text as it is generated (streamed requests). */
    interface Deltas {
        void delta(String text) throws IOException;
    }

    Request parse(String body, String sessionHeader) {
        JsonNode root = object(body);
        // Any model name is accepted, as llama.cpp's server does: one model is served (GET /v1/models lists it).
        if (root.path("n").asInt(1) != 1) throw ApiError.invalid("n must be 1: one answer per request");
        for (String unsupported : new String[] {"tools", "functions", "tool_choice"}) {
            if (root.hasNonNull(unsupported)
                    && !(root.get(unsupported).isArray()
                            && root.get(unsupported).isEmpty())) {
                throw ApiError.invalid("'" + unsupported + "' is not supported: this server answers with text only");
            }
        }

        JsonNode list = root.get("messages");
        if (list == null || !list.isArray() || list.isEmpty())
            throw ApiError.invalid("messages must be a non-empty array");
        List<HistoryMatch.Message> messages = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) messages.add(message(list.get(i), i));
        if (messages.getLast().role().equals("assistant")) {
            throw ApiError.invalid("the last message is the assistant's: there is nothing to "
                    + "answer (end the list with a user message)");
        }

        return new Request(
                messages,
                params(root),
                root.path("stream").asBoolean(false),
                root.path("stream_options").path("include_usage").asBoolean(false),
                session(root, sessionHeader),
                false);
    }

    /**
     * {@code POST /v1/completions}: the prompt goes to the session as it is (a raw turn: no chat template) and the
     * model continues it. One-off without a session id; with one, the prompt is appended to that session.
     */
    Request parseCompletion(String body, String sessionHeader) {
        JsonNode root = object(body);
        if (root.path("n").asInt(1) != 1 || root.path("best_of").asInt(1) != 1)
            throw ApiError.invalid("n and best_of must be 1: one answer per request");
        if (root.path("echo").asBoolean(false)) throw ApiError.invalid("echo is not supported");
        if (root.hasNonNull("logprobs")) throw ApiError.invalid("logprobs are not supported");
        if (root.hasNonNull("suffix") && !root.get("suffix").asText().isEmpty())
            throw ApiError.invalid("suffix is not supported");
        JsonNode prompt = root.get("prompt");
        if (prompt != null && prompt.isArray() && prompt.size() == 1) prompt = prompt.get(0);
        if (prompt == null || !prompt.isTextual() || prompt.asText().isEmpty()) {
            throw ApiError.invalid("prompt must be a non-empty string (or a list of one)");
        }
        return new Request(
                List.of(new HistoryMatch.Message(Message.RAW, prompt.asText())),
                params(root),
                root.path("stream").asBoolean(false),
                root.path("stream_options").path("include_usage").asBoolean(false),
                session(root, sessionHeader),
                true);
    }

    private JsonNode object(String body) {
        JsonNode root;
        try {
            root = json.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiError.invalid("the request body is not JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw ApiError.invalid("the request body must be a JSON object");
        return root;
    }

    private static String session(JsonNode root, String sessionHeader) {
        String session = sessionHeader != null && !sessionHeader.isBlank()
                ? sessionHeader
                : root.path("session_id").asText("");
        return session.isBlank() ? null : session;
    }

    /** The generation fields both endpoints share. */
    private static GenerationParams params(JsonNode root) {
        GenerationParams.Builder p = GenerationParams.newBuilder();
        JsonNode max =
                root.hasNonNull("max_completion_tokens") ? root.get("max_completion_tokens") : root.get("max_tokens");
        if (max != null && !max.isNull()) p.setMaxTokens(positiveInt(max, "max_tokens"));
        if (root.hasNonNull("temperature")) p.setTemperature((float) number(root.get("temperature"), "temperature"));
        if (root.hasNonNull("top_p")) p.setTopP((float) number(root.get("top_p"), "top_p"));
        if (root.hasNonNull("top_k")) p.setTopK((int) number(root.get("top_k"), "top_k"));
        if (root.hasNonNull("min_p")) p.setMinP((float) number(root.get("min_p"), "min_p"));
        if (root.hasNonNull("repeat_penalty"))
            p.setRepeatPenalty((float) number(root.get("repeat_penalty"), "repeat_penalty"));
        if (root.hasNonNull("seed")) p.setSeed((long) number(root.get("seed"), "seed"));
        responseFormat(root.get("response_format"), p);
        if (root.hasNonNull("logprobs") && root.get("logprobs").isBoolean())
            p.setLogprobs(root.get("logprobs").asBoolean());
        if (root.hasNonNull("top_logprobs")) {
            JsonNode top = root.get("top_logprobs");
            if (!top.canConvertToInt() || top.asInt() < 0 || top.asInt() > 20)
                throw ApiError.invalid("top_logprobs must be a whole number in [0, 20], got " + top);
            if (!p.getLogprobs()) throw ApiError.invalid("top_logprobs needs logprobs: true");
            p.setTopLogprobs(top.asInt());
        }
        JsonNode stop = root.get("stop");
        if (stop != null && stop.isTextual()) p.addStop(stop.asText());
        else if (stop != null && stop.isArray()) stop.forEach(s -> p.addStop(s.asText()));
        else if (stop != null && !stop.isNull()) throw ApiError.invalid("stop must be a string or an array of strings");

        return p.build();
    }

    private static HistoryMatch.Message message(JsonNode m, int index) {
        String where = "messages[" + index + "]";
        if (!m.isObject()) throw ApiError.invalid(where + " must be an object");
        String role = m.path("role").asText("");
        role = switch (role) {
            case "system", "developer" -> "system";
            case "user", "assistant" -> role;
            case "tool", "function" ->
                throw ApiError.invalid(where + ": role '" + role + "' is not supported (no tool calls)");
            default ->
                throw ApiError.invalid(
                        where + ": role must be system, developer, user or assistant, got '" + role + "'");
        };
        JsonNode content = m.get("content");
        if (content != null && content.isTextual()) return new HistoryMatch.Message(role, content.asText());
        if (content != null && content.isArray()) {
            StringBuilder text = new StringBuilder();
            for (JsonNode part : content) {
                if (!part.path("type").asText().equals("text")) {
                    throw ApiError.invalid(where + ": content part of type '"
                            + part.path("type").asText() + "' is not supported (text only)");
                }
                text.append(part.path("text").asText());
            }
            return new HistoryMatch.Message(role, text.toString());
        }
        throw ApiError.invalid(where + ": content must be a string or an array of text parts");
    }

    private static double number(JsonNode n, String name) {
        if (!n.isNumber()) throw ApiError.invalid(name + " must be a number, got " + n);
        return n.asDouble();
    }

    private static int positiveInt(JsonNode n, String name) {
        if (!n.canConvertToInt() || n.asInt() < 1)
            throw ApiError.invalid(name + " must be a whole number >= 1, got " + n);
        return n.asInt();
    }

    /**
     * Runs the request on its session; {@code deltas} (or null) gets the reply as it is generated.
     * {@code authorization}: the request's header, passed on to the service, which authenticates every call.
     */
    Answer run(Request req, Deltas deltas, String authorization) throws IOException {
        MemoryServiceBlockingStub service =
                authorization == null ? base : base.withInterceptors(Tenants.sending(authorization));
        boolean oneOff = req.sessionId() == null;
        String session = oneOff ? "oai-once-" + UUID.randomUUID() : req.sessionId();
        try {
            if (req.raw()) { // appended as it is: no history to match
                ChatDone done = chat(
                        service, session, "cmpl-" + unique(), req.messages().getLast(), req.params(), deltas, null);
                return Answer.of(done, 0, 0);
            }
            return runOn(service, session, oneOff, req, deltas);
        } finally {
            if (oneOff) {
                try {
                    service.deleteSession(DeleteSessionRequest.newBuilder()
                            .setSessionId(session)
                            .build());
                } catch (StatusRuntimeException ignored) { // expiry deletes it later
                }
            }
        }
    }

    private Answer runOn(MemoryServiceBlockingStub service, String session, boolean oneOff, Request req, Deltas deltas)
            throws IOException {
        try {
            return planAndSend(service, session, oneOff, req, deltas);
        } catch (StatusRuntimeException e) {
            // Another request changed the session between our read and one of our steps: the step was refused,
            // unapplied.
            if (e.getStatus().getCode() == Status.Code.ABORTED) {
                throw new ApiError(
                        409,
                        "invalid_request_error",
                        "session_history_conflict",
                        e.getStatus().getDescription());
            }
            throw e;
        }
    }

    /**
     * Reads the session, plans what to send, and sends it. Every step carries the session's last turn id as the step
     * before it left it (HistoryCondition), checked when the step is applied: a concurrent request for the same session
     * makes one of them fail with ABORTED, never a reply on a history mixed from both.
     */
    private Answer planAndSend(
            MemoryServiceBlockingStub service, String session, boolean oneOff, Request req, Deltas deltas)
            throws IOException {
        List<HistoryMatch.Message> messages = req.messages();
        SessionInfo info = oneOff ? null : sessionOrNull(service, session);
        List<String> hashes = HistoryMatch.prefixHashes(messages);
        List<HistoryMatch.Recent> recent = info == null ? List.of() : recent(info);
        HistoryMatch.Plan plan;
        try {
            plan = HistoryMatch.plan(
                    messages,
                    hashes,
                    info == null ? null : recent,
                    info == null ? 0 : info.getCache().getUndoableTurns(),
                    session);
        } catch (HistoryMatch.Conflict e) {
            throw new ApiError(409, "invalid_request_error", "session_history_conflict", e.getMessage());
        }
        long cached = info == null ? 0 : info.getCache().getTokens();
        HistoryMatch.Message last = messages.getLast();
        String lastTurn = recent.isEmpty() ? "" : recent.get(0).turnId();
        if (plan.rollback() > 0) {
            cached = service.rollback(RollbackRequest.newBuilder()
                            .setSessionId(session)
                            .setTurns(plan.rollback())
                            .setTurnId("oai-rollback-" + UUID.randomUUID())
                            .setIfHistory(after(lastTurn))
                            .build())
                    .getCache()
                    .getTokens();
            lastTurn = recent.size() > plan.rollback()
                    ? recent.get(plan.rollback()).turnId()
                    : "";
        }
        if (plan.answeredTurnId()
                != null) { // a request already answered (a retry): its stored answer and usage again, nothing prefilled
            ChatDone done = chat(service, session, plan.answeredTurnId(), last, req.params(), null, null);
            if (deltas != null && !done.getText().isEmpty()) deltas.delta(done.getText());
            return Answer.of(done, 0, 0);
        }
        int prompt = 0;
        if (plan.sendFrom() < messages.size() - 1) {
            AppendTurnsRequest.Builder append =
                    AppendTurnsRequest.newBuilder().setSessionId(session).setIfHistory(after(lastTurn));
            for (int i = plan.sendFrom(); i < messages.size() - 1; i++) {
                HistoryMatch.Message m = messages.get(i);
                append.addTurns(Turn.newBuilder()
                        .setRole(role(m.role()))
                        .setText(m.content())
                        .setTurnId(HistoryMatch.turnId(hashes.get(i), unique())));
            }
            AppendTurnsResponse r = service.appendTurns(append.build());
            prompt += r.getPromptTokens();
            lastTurn = append.getTurns(append.getTurnsCount() - 1).getTurnId();
        }
        ChatDone done = chat(
                service,
                session,
                HistoryMatch.turnId(hashes.getLast(), unique()),
                last,
                req.params(),
                deltas,
                after(lastTurn));
        return Answer.of(done, prompt, cached);
    }

    /** The condition that the session's last turn is {@code turnId} ("": none). */
    private static HistoryCondition after(String turnId) {
        return HistoryCondition.newBuilder().setLastTurnId(turnId).build();
    }

    /**
     * One Chat call; its deltas go to {@code deltas} (or nowhere); a client gone mid-reply cancels the call.
     * {@code condition} (or null): the session's last turn it must follow.
     */
    private ChatDone chat(
            MemoryServiceBlockingStub service,
            String session,
            String turnId,
            HistoryMatch.Message m,
            GenerationParams params,
            Deltas deltas,
            HistoryCondition condition)
            throws IOException {
        ChatRequest.Builder b = ChatRequest.newBuilder()
                .setSessionId(session)
                .setTurnId(turnId)
                .setRole(role(m.role()))
                .setText(m.content())
                .setParams(params);
        if (condition != null) b.setIfHistory(condition);
        ChatRequest req = b.build();
        Context.CancellableContext call = Context.current().withCancellation();
        Context previous = call.attach();
        try {
            Iterator<ChatResponse> it = service.chat(req);
            while (it.hasNext()) {
                ChatResponse r = it.next();
                if (r.hasDone()) return r.getDone();
                if (deltas != null) deltas.delta(r.getDelta());
            }
            throw Status.INTERNAL
                    .withDescription("the reply ended without its final message")
                    .asRuntimeException();
        } catch (IOException e) {
            call.cancel(e);
            throw e;
        } finally {
            call.detach(previous);
            call.cancel(null);
        }
    }

    private SessionInfo sessionOrNull(MemoryServiceBlockingStub service, String session) {
        try {
            return service.getSession(GetSessionRequest.newBuilder()
                    .setSessionId(session)
                    .setIncludeRecentTurns(true)
                    .build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) return null;
            throw e;
        }
    }

    private static List<HistoryMatch.Recent> recent(SessionInfo info) {
        List<HistoryMatch.Recent> out = new ArrayList<>();
        for (RecentTurn t : info.getRecentTurnsList())
            out.add(new HistoryMatch.Recent(t.getTurnId(), t.getReplied(), t.getReply()));
        return out;
    }

    private static Role role(String role) {
        return switch (role) {
            case "system" -> Role.ROLE_SYSTEM;
            case "assistant" -> Role.ROLE_ASSISTANT;
            case Message.RAW -> Role.ROLE_RAW;
            default -> Role.ROLE_USER;
        };
    }

    private static String unique() {
        return Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE)
                .substring(0, 12);
    }

    // ---- the protocol's JSON ----

    static String finishReason(FinishReason f) {
        return switch (f) {
            case FINISH_REASON_LENGTH, FINISH_REASON_CONTEXT_FULL -> "length";
            default -> "stop";
        };
    }

    ObjectNode completion(Answer a, String id, long created, String session) {
        ObjectNode root = header("chat.completion", id, created);
        ObjectNode choice = root.putArray("choices").addObject().put("index", 0);
        choice.putObject("message").put("role", "assistant").put("content", a.text());
        putLogprobs(choice, a.logprobs());
        choice.put("finish_reason", finishReason(a.finish()));
        root.set("usage", usage(a));
        if (session != null) root.put("session_id", session);
        return root;
    }

    /** OpenAI's {@code logprobs} of a choice: {@code {"content": [...]}} with one entry per token, or null. */
    void putLogprobs(ObjectNode choice, List<TokenLogprob> logprobs) {
        if (logprobs.isEmpty()) {
            choice.putNull("logprobs");
            return;
        }
        ArrayNode content = choice.putObject("logprobs").putArray("content");
        for (TokenLogprob lp : logprobs) {
            ObjectNode e = logprobEntry(content.addObject(), lp.getToken(), lp.getLogprob());
            ArrayNode top = e.putArray("top_logprobs");
            for (TopLogprob t : lp.getTopList()) logprobEntry(top.addObject(), t.getToken(), t.getLogprob());
        }
    }

    private static ObjectNode logprobEntry(ObjectNode e, com.google.protobuf.ByteString token, float logprob) {
        e.put("token", token.toStringUtf8()).put("logprob", logprob);
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : token.toByteArray()) bytes.add(b & 0xff);
        return e;
    }

    /** {@code /v1/completions}' answer: its one chunk, whole, with the usage. */
    ObjectNode textCompletion(Answer a, String id, long created, String session) {
        ObjectNode root = textChunk(id, created, a.text(), finishReason(a.finish()));
        root.set("usage", usage(a));
        if (session != null) root.put("session_id", session);
        return root;
    }

    /** One streamed {@code /v1/completions} chunk: text, and the finish reason on the last. */
    ObjectNode textChunk(String id, long created, String text, String finish) {
        ObjectNode root = header("text_completion", id, created);
        ObjectNode choice = root.putArray("choices").addObject().put("index", 0).put("text", text);
        choice.putNull("logprobs");
        if (finish == null) choice.putNull("finish_reason");
        else choice.put("finish_reason", finish);
        return root;
    }

    /** What every answer and chunk opens with. */
    private ObjectNode header(String object, String id, long created) {
        return json.createObjectNode()
                .put("id", id)
                .put("object", object)
                .put("created", created)
                .put("model", modelName);
    }

    ObjectNode usage(Answer a) {
        ObjectNode u = json.createObjectNode()
                .put("prompt_tokens", a.promptTokens())
                .put("completion_tokens", a.completionTokens())
                .put("total_tokens", a.promptTokens() + a.completionTokens());
        u.putObject("prompt_tokens_details").put("cached_tokens", Math.max(0, a.cachedTokens()));
        return u;
    }

    /** One streamed chunk: a delta (role and/or content; both null for the final one), a finish reason or null. */
    ObjectNode chunk(String id, long created, String role, String content, String finish) {
        ObjectNode root = header("chat.completion.chunk", id, created);
        ArrayNode choices = root.putArray("choices");
        ObjectNode choice = choices.addObject().put("index", 0);
        ObjectNode delta = choice.putObject("delta");
        if (role != null) delta.put("role", role);
        if (content != null) delta.put("content", content);
        choice.putNull("logprobs");
        if (finish == null) choice.putNull("finish_reason");
        else choice.put("finish_reason", finish);
        return root;
    }

    /** Writes one server-sent event and flushes it to the client. */
    static void event(OutputStream out, String data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }
}
