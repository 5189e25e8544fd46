package io.razorstream.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import io.razorstream.app.broker.EmbeddedBroker;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.kernel.GgmlType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Structured output through the service, as an agent asks for it with the official openai npm package: a model with
 * random weights, sampled at temperature 1, answers json_schema requests with JSON that validates against the schema in
 * 50 of 50 seeded runs, and json_object requests with a JSON object in 50 of 50; a schema the grammar cannot express is
 * a 400 naming the field.
 */
class StructuredOutputHttpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path CLIENT = Path.of("src/test/node");
    static final String SCHEMA = """
            {"type": "object",
             "properties": {
               "name": {"type": "string", "maxLength": 16},
               "age": {"type": "integer"},
               "role": {"enum": ["admin", "user", "guest"]},
               "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3}
             },
             "required": ["name", "age", "role"]}
            """;

    @TempDir
    static Path dir;

    private static RazorService service;

    @BeforeAll
    static void start() throws Exception {
        Path model = dir.resolve("random-tiny.gguf");
        RandomModel.write(ModelShape.TINY, GgmlType.F32, 23, model);
        service = Services.start(
                dir.resolve("data"),
                null,
                "razorstream-structured",
                Map.of("model", model.toString(), "http.port", String.valueOf(EmbeddedBroker.freePort())));
    }

    @AfterAll
    static void stop() throws Exception {
        if (service != null) service.close();
    }

    @Test
    void theOpenAiPackageGetsValidJsonFromARandomModel() throws Exception {
        Assumptions.assumeTrue(
                Files.isDirectory(CLIENT.resolve("node_modules/openai")),
                "the openai npm package is not installed in " + CLIENT
                        + " (bin/test installs it with npm; Node 20 and the npm registry are needed)");
        Process p = new ProcessBuilder(
                        "node",
                        "openai-structured.mjs",
                        "http://127.0.0.1:" + service.httpPort() + "/v1",
                        "random-tiny",
                        JSON.readTree(SCHEMA).toString(),
                        "50")
                .directory(CLIENT.toFile())
                .start();
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String stderr = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(10, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as("node client failed:\n%s", stderr).isZero();
        JsonNode out = JSON.readTree(stdout);

        JsonSchema schema =
                JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(JSON.readTree(SCHEMA));
        assertThat(out.get("schema")).hasSize(50);
        for (JsonNode reply : out.get("schema")) {
            assertThat(schema.validate(JSON.readTree(reply.asText())))
                    .as(reply.asText())
                    .isEmpty();
        }
        assertThat(out.get("object")).hasSize(50);
        for (JsonNode reply : out.get("object")) {
            assertThat(JSON.readTree(reply.asText()).isObject())
                    .as(reply.asText())
                    .isTrue();
        }
        assertThat(schema.validate(JSON.readTree(out.get("streamed").asText()))).isEmpty();

        assertThat(out.at("/pattern/status").asInt()).isEqualTo(400);
        assertThat(out.at("/pattern/message").asText())
                .contains("response_format.json_schema.schema")
                .contains("pattern");
        assertThat(out.at("/unknownType/status").asInt()).isEqualTo(400);
    }
}
