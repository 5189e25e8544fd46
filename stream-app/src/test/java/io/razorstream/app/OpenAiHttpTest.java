package io.razorstream.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.ManagedChannel;
import io.razorstream.app.broker.EmbeddedBroker;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.ListSessionsRequest;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.SessionInfo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The OpenAI-compatible HTTP API driven by the official {@code openai} npm package (installed by bin/test): a plain and
 * a streamed completion, a three-turn conversation sent the stateless way (each request prefills only its new message:
 * the usage equals what the same turns cost through gRPC Chat on a session of their own), and an edited last message,
 * which takes the old one back (the session then equals one that never had it).
 */
class OpenAiHttpTest {
    static final Path CLIENT = Path.of("src/test/node");
    static final String MODEL = "synth-retrieval.gguf";

    @TempDir
    static Path dataDir;

    static RazorService service;
    static ManagedChannel channel;
    static MemoryServiceGrpc.MemoryServiceBlockingStub stub;
    static final ObjectMapper JSON = new ObjectMapper();
    /** Small here so that a too-large body is cheap to send; the default is 32 MiB. */
    static final int MAX_BODY = 16384;

    @BeforeAll
    static void start() throws Exception {
        service = Services.start(
                dataDir,
                null,
                "razorstream",
                Map.of(
                        "http.port",
                        String.valueOf(EmbeddedBroker.freePort()),
                        "http.max-request-bytes",
                        String.valueOf(MAX_BODY),
                        "http.model-aliases",
                        "default, gpt-4o-mini"));
        channel = Services.channel(service);
        stub = MemoryServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() throws Exception {
        if (channel != null) channel.shutdownNow();
        if (service != null) service.close();
    }

    static String base() {
        return "http://127.0.0.1:" + service.httpPort() + "/v1";
    }

    /** One gRPC Chat turn, greedy, at most {@code tokens} tokens. */
    static ChatDone chat(String session, String text, int tokens) {
        return Services.chat(stub, session, UUID.randomUUID().toString(), text, tokens)
                .done();
    }

    static ChatDone chatWithId(String session, String turnId, String text) {
        return Services.chat(stub, session, turnId, text, 4).done();
    }

    static SessionInfo session(String id) {
        return stub.getSession(GetSessionRequest.newBuilder().setSessionId(id).build());
    }

    @Test
    void theOpenAiPackageTalksToIt() throws Exception {
        Assumptions.assumeTrue(
                Files.isDirectory(CLIENT.resolve("node_modules/openai")),
                "the openai npm package is not installed in " + CLIENT
                        + " (bin/test installs it with npm; Node 20 and the npm registry are needed)");
        Process p = new ProcessBuilder("node", "openai-client.mjs", base(), MODEL, "web-1")
                .directory(CLIENT.toFile())
                .redirectErrorStream(false)
                .start();
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String stderr = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as("node client failed:\n%s", stderr).isZero();
        JsonNode out = JSON.readTree(stdout);

        // One-off requests: the constructed model recalls the code; streamed and not streamed agree, usage included.
        assertThat(out.at("/plain/content").asText()).startsWith("K7Q2");
        assertThat(out.at("/plain/object").asText()).isEqualTo("chat.completion");
        assertThat(out.at("/plain/finish").asText()).isEqualTo("length");
        assertThat(out.at("/plain/usage/completion_tokens").asInt()).isEqualTo(8);
        assertThat(out.at("/streamed/content").asText())
                .isEqualTo(out.at("/plain/content").asText());
        assertThat(out.at("/streamed/usage")).isEqualTo(out.at("/plain/usage"));
        assertThat(out.at("/streamed/finish").asText()).isEqualTo("length");
        assertThat(out.at("/streamed/chunks").asInt())
                .as("a chunk per token or so, not one at the end")
                .isGreaterThanOrEqualTo(5);
        // ... and their sessions are gone.
        assertThat(stub.listSessions(ListSessionsRequest.newBuilder()
                                .setPageSize(1000)
                                .build())
                        .getSessionsList())
                .noneMatch(s -> s.getSessionId().startsWith("oai-once-"));

        // The stateless conversation costs what the same turns cost on a session of their own through gRPC.
        String[] turns = {
            "My name is Ada. Remember the code #", " Tell me the code again #", " Once more, the code is #"
        };
        for (int i = 0; i < turns.length; i++) {
            ChatDone ref = chat("ref-1", turns[i], 6);
            JsonNode got = out.at("/conversation/" + i);
            assertThat(got.at("/content").asText()).as("turn %d", i + 1).isEqualTo(ref.getText());
            assertThat(got.at("/usage/prompt_tokens").asInt())
                    .as("turn %d prefills only its own message", i + 1)
                    .isEqualTo(ref.getPromptTokens());
            assertThat(got.at("/usage/completion_tokens").asInt()).isEqualTo(ref.getCompletionTokens());
        }
        assertThat(out.at("/conversation/2/usage/prompt_tokens_details/cached_tokens")
                        .asLong())
                .as("the session's tokens before the turn")
                .isGreaterThan(out.at("/conversation/0/usage/prompt_tokens").asLong());

        // The edited last message: the old one is taken back, the new one answered; the session equals one that never
        // had the old one.
        chat("ref-2", turns[0], 6);
        chat("ref-2", turns[1], 6);
        ChatDone ref = chat("ref-2", " Edited: what was the code? #", 6);
        assertThat(out.at("/edited/content").asText()).isEqualTo(ref.getText());
        assertThat(out.at("/edited/usage/prompt_tokens").asInt()).isEqualTo(ref.getPromptTokens());
        assertThat(session("web-1").getCache().getTokens())
                .isEqualTo(session("ref-2").getCache().getTokens());

        // Errors in the protocol's shape, as the package's typed errors.
        // Log probabilities: one entry per reply token, spelling the reply; greedy took each step's most likely token.
        JsonNode entries = out.at("/logprobs/entries");
        assertThat(entries.size()).isEqualTo(6);
        StringBuilder spelled = new StringBuilder();
        for (JsonNode e : entries) {
            spelled.append(e.get("token").asText());
            assertThat(e.get("logprob").asDouble()).isLessThanOrEqualTo(0);
            assertThat(e.get("top_logprobs")).hasSize(2);
            assertThat(e.at("/top_logprobs/0/token").asText())
                    .isEqualTo(e.get("token").asText());
            assertThat(e.at("/top_logprobs/0/logprob").asDouble())
                    .isEqualTo(e.get("logprob").asDouble());
            assertThat(e.at("/top_logprobs/1/logprob").asDouble())
                    .isLessThanOrEqualTo(e.get("logprob").asDouble());
        }
        assertThat(spelled.toString()).isEqualTo(out.at("/logprobs/content").asText());
        assertThat(out.get("logprobsStreamed")).hasSize(6);
        assertThat(out.at("/logprobsStreamed/0/token")).isEqualTo(entries.get(0).get("token"));

        // /v1/completions continues the prompt as it is: the synthetic model (no chat template) recalls the code the
        // same way, streamed or not; on a named session the second prompt continues the first.
        assertThat(out.at("/completion/object").asText()).isEqualTo("text_completion");
        assertThat(out.at("/completion/text").asText()).startsWith("K7Q2");
        assertThat(out.at("/completion/finish").asText()).isEqualTo("length");
        assertThat(out.at("/completion/usage/completion_tokens").asInt()).isEqualTo(8);
        assertThat(out.at("/completionStreamed/text").asText())
                .isEqualTo(out.at("/completion/text").asText());
        assertThat(out.at("/completionSession/second").asText()).startsWith("ZX81");
        assertThat(session("cmpl-session").getCache().getTokens()).isPositive();

        // Any model name is answered, as llama.cpp's server answers it: one model is served.
        assertThat(out.at("/unknownModel/status").asInt()).isEqualTo(200);
        assertThat(out.at("/unknownModel/content").isTextual()).isTrue();
        assertThat(out.at("/noMessages/status").asInt()).isEqualTo(400);
        assertThat(out.at("/noMessages/type").asText()).isEqualTo("invalid_request_error");
        assertThat(out.at("/models").toString())
                .contains(MODEL)
                .contains("\"default\"")
                .contains("gpt-4o-mini");
    }

    /**
     * examples/python/chat.py (standard library only) holds a streamed conversation; its second request prefills only
     * the new message.
     */
    @Test
    void thePythonExampleHoldsAConversation() throws Exception {
        Path example = Path.of("../examples/python/chat.py");
        Process p;
        try {
            p = new ProcessBuilder(
                            "python3",
                            example.toString(),
                            "--base-url",
                            base(),
                            "--session",
                            "py-1",
                            "--json",
                            "--stream",
                            "--max-tokens",
                            "6",
                            "Note this. The code is #K7Q2. the quick brown fox jumps "
                                    + "over a lazy dog. Remember the code #",
                            " Again, the code is #")
                    .start();
        } catch (IOException e) {
            Assumptions.abort("python3 is not installed: " + e.getMessage());
            return;
        }
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String stderr = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as("chat.py: %s", stderr).isZero();
        String[] lines = stdout.strip().split("\n");
        assertThat(lines).hasSize(2);
        JsonNode first = JSON.readTree(lines[0]), second = JSON.readTree(lines[1]);
        assertThat(first.path("reply").asText()).startsWith("K7Q2");
        chat(
                "py-ref",
                "Note this. The code is #K7Q2. the quick brown fox jumps over a lazy dog. Remember the code #",
                6);
        ChatDone ref = chat("py-ref", " Again, the code is #", 6);
        assertThat(second.path("reply").asText()).isEqualTo(ref.getText());
        assertThat(second.at("/usage/prompt_tokens").asInt()).isEqualTo(ref.getPromptTokens());
        assertThat(second.at("/usage/prompt_tokens_details/cached_tokens").asInt())
                .isGreaterThan(first.at("/usage/prompt_tokens").asInt());
    }

    /**
     * A list that parts from the session further back than it can take back is refused (409), and the session is left
     * as it was.
     */
    @Test
    void aListThatCannotContinueTheSessionIsAConflict() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String first = "{\"model\":\"" + MODEL
                + "\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"one #\"}]}";
        for (String sid : new String[] {"web-2"}) {
            HttpResponse<String> r = post(http, sid, first);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }
        chat("web-2", " a turn sent through gRPC #", 3); // not through this API: the list below cannot reach past it
        long tokens = session("web-2").getCache().getTokens();
        HttpResponse<String> r = post(
                http,
                "web-2",
                "{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"user\",\"content\":\"other #\"}]}");
        assertThat(r.statusCode()).isEqualTo(409);
        JsonNode err = JSON.readTree(r.body()).path("error");
        assertThat(err.path("code").asText()).isEqualTo("session_history_conflict");
        assertThat(err.path("message").asText()).contains("web-2");
        assertThat(session("web-2").getCache().getTokens()).isEqualTo(tokens);

        HttpResponse<String> bad = post(http, "web-2", "{not json");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(bad.body()).at("/error/type").asText()).isEqualTo("invalid_request_error");
        HttpResponse<String> nowhere = http.send(
                HttpRequest.newBuilder(URI.create(base() + "/nowhere")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(nowhere.statusCode()).isEqualTo(404);
        assertThat(JSON.readTree(nowhere.body()).at("/error/type").asText()).isEqualTo("not_found_error");
    }

    /**
     * Two stateless requests for one new session, sent at once, with different one-message histories. Whatever the
     * interleaving, no reply is computed on a history its caller did not send: each request is answered on exactly its
     * own messages (the reply a one-off request with them gets) or refused with 409 session_history_conflict, and the
     * session ends holding exactly one of the two histories.
     */
    @Test
    void concurrentRequestsForOneSessionNeverMixTheirHistories() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        int conflicts = 0;
        for (int round = 0; round < 6; round++) {
            String session = "race-" + round;
            String[] bodies = new String[2], references = new String[2];
            for (int i = 0; i < 2; i++) {
                bodies[i] =
                        "{\"model\":\"" + MODEL + "\",\"max_tokens\":6,\"messages\":[{\"role\":\"user\",\"content\":\""
                                + (i == 0
                                        ? "The code is #A" + round + "Q. the quick fox. Code #"
                                        : "Note #Z" + round + "W now. a lazy dog. Note #")
                                + "\"}]}";
                HttpResponse<String> alone = post(http, null, bodies[i]); // a one-off: exactly these messages
                assertThat(alone.statusCode()).as(alone.body()).isEqualTo(200);
                references[i] = JSON.readTree(alone.body())
                        .at("/choices/0/message/content")
                        .asText();
            }
            assertThat(references[0]).isNotEqualTo(references[1]);
            List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
            for (int i = 0; i < 2; i++)
                sent.add(http.sendAsync(request(session, bodies[i]), HttpResponse.BodyHandlers.ofString()));
            for (int i = 0; i < 2; i++) {
                HttpResponse<String> r = sent.get(i).get(2, TimeUnit.MINUTES);
                if (r.statusCode() == 409) {
                    assertThat(JSON.readTree(r.body()).at("/error/code").asText())
                            .as(r.body())
                            .isEqualTo("session_history_conflict");
                    conflicts++;
                } else {
                    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                    assertThat(JSON.readTree(r.body())
                                    .at("/choices/0/message/content")
                                    .asText())
                            .as("request %d of round %d", i, round)
                            .isEqualTo(references[i]);
                }
            }
            SessionInfo info = stub.getSession(GetSessionRequest.newBuilder()
                    .setSessionId(session)
                    .setIncludeRecentTurns(true)
                    .build());
            assertThat(info.getRecentTurnsCount())
                    .as("round %d: the session holds one request's one message", round)
                    .isEqualTo(1);
            String reply = info.getRecentTurns(0).getReply();
            assertThat(reply).as("round %d: the reply the session holds", round).isIn(references[0], references[1]);
        }
        System.out.printf("concurrent stateless requests: %d of 12 refused with session_history_conflict%n", conflicts);
    }

    /** /metrics is Prometheus text, and its counters move by what a known number of turns did. */
    @Test
    void metricsCountTheTurns() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        Map<String, Double> before = scrape(http);
        int prompt = 0, completion = 0;
        for (int i = 0; i < 4; i++) {
            ChatDone d = chatWithId("metered", "turn-" + i, " metered turn " + i + " #");
            prompt += d.getPromptTokens();
            completion += d.getCompletionTokens();
        }
        assertThat(chatWithId("metered", "turn-3", " metered turn 3 #").getDuplicate())
                .isTrue();
        Map<String, Double> after = scrape(http);
        assertThat(delta(before, after, "razorstream_turns_total{outcome=\"applied\"}"))
                .isEqualTo(4);
        assertThat(delta(before, after, "razorstream_duplicates_total")).isEqualTo(1);
        assertThat(delta(before, after, "razorstream_prompt_tokens_total")).isEqualTo(prompt);
        assertThat(delta(before, after, "razorstream_completion_tokens_total")).isEqualTo(completion);
        assertThat(delta(before, after, "razorstream_turn_seconds_count")).isEqualTo(4);
        assertThat(delta(before, after, "razorstream_turn_stage_seconds_count{stage=\"prefill\"}"))
                .as("turns with a prefill stage")
                .isEqualTo(4);
        assertThat(delta(before, after, "razorstream_turn_stage_seconds_count{stage=\"committed\"}"))
                .as("replies seen committed")
                .isEqualTo(5);
        assertThat(delta(before, after, "razorstream_time_to_first_token_seconds_count"))
                .as("the four new replies and the stored one")
                .isEqualTo(5);
        assertThat(after.get("razorstream_sessions_hot")).isGreaterThanOrEqualTo(1);
        assertThat(after.get("razorstream_kv_full_bytes")).isGreaterThan(after.get("razorstream_kv_bytes"));
        assertThat(after.get("razorstream_stream_state{state=\"RUNNING\"}")).isEqualTo(1);
        assertThat(after).containsKey("razorstream_consumer_lag_records");
    }

    static final Pattern SAMPLE = Pattern.compile(
            "([a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:\\\\.|[^\"\\\\])*\",?)*\\})?) "
                    + "([-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|Inf))( [0-9]+)?");

    /** Every sample of the Prometheus text exposition, by name and labels; fails on any line that is not the format. */
    static Map<String, Double> scrape(HttpClient http) throws Exception {
        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.httpPort() + "/metrics"))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
        Map<String, Double> samples = new HashMap<>();
        for (String line : r.body().split("\n")) {
            if (line.isEmpty()) continue;
            if (line.startsWith("#")) {
                assertThat(line).as("a comment line").matches("# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*");
                continue;
            }
            Matcher m = SAMPLE.matcher(line);
            assertThat(m.matches()).as("not Prometheus text: %s", line).isTrue();
            samples.put(m.group(1), Double.parseDouble(m.group(2).replace("Inf", "Infinity")));
        }
        return samples;
    }

    static double delta(Map<String, Double> before, Map<String, Double> after, String sample) {
        assertThat(after).as("sample %s", sample).containsKey(sample);
        return after.get(sample) - before.getOrDefault(sample, 0.0);
    }

    /**
     * A body over http.max-request-bytes is refused in the protocol's shape, naming the setting; one under it is
     * served.
     */
    @Test
    void aTooLargeBodyIsRefusedNamingTheSetting() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String under = "{\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"" + "a".repeat(MAX_BODY - 200)
                + " #\"}]}";
        HttpResponse<String> ok = post(http, "large-1", under);
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        String over = "{\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"" + "a".repeat(MAX_BODY + 100)
                + " #\"}]}";
        HttpResponse<String> refused = post(http, "large-2", over);
        assertThat(refused.statusCode()).isEqualTo(413);
        JsonNode err = JSON.readTree(refused.body()).path("error");
        assertThat(err.path("code").asText()).isEqualTo("request_too_large");
        assertThat(err.path("message").asText()).contains("http.max-request-bytes");
    }

    /** A chat completion; {@code session} null: a one-off request (no X-Session-Id). */
    static HttpResponse<String> post(HttpClient http, String session, String body) throws Exception {
        return http.send(request(session, body), HttpResponse.BodyHandlers.ofString());
    }

    static HttpRequest request(String session, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + "/chat/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (session != null) b.header("X-Session-Id", session);
        return b.build();
    }
}
