package io.razorstream.engine.grammar;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A model with random weights, sampled at temperature 1, writes JSON that parses and validates against the schema in
 * every one of 50 seeded runs when its replies are constrained (within 64 tokens: the budget closes them), and never
 * otherwise.
 */
class ConstrainedReplyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int RUNS = 50, MAX_TOKENS = 64;

    @TempDir
    static Path dir;

    private static LoadedModel model;
    private static Parallel parallel;

    @BeforeAll
    static void open() throws Exception {
        Path file = dir.resolve("random.gguf");
        RandomModel.write(ModelShape.TINY, GgmlType.F32, 17, file);
        model = LoadedModel.open(file);
        parallel = new Parallel(2);
    }

    @AfterAll
    static void close() {
        parallel.close();
        model.close();
    }

    private static String reply(Grammar grammar, long seed) {
        Decoder decoder = model.decoder(parallel);
        var cache = model.model().newCache(MAX_TOKENS + 8, KvPrecision.F16);
        int[] prompt = model.tokenizer().encode("Answer in JSON:", true, true);
        float[] logits = decoder.prefill(cache, prompt);
        Decoder.Request request = Decoder.Request.of(new SamplerConfig(1f, 0, 1f, 0f, 1f, 0, seed), MAX_TOKENS);
        if (grammar != null) request = request.withGrammar(grammar);
        return decoder.generate(cache, cache.maxTokens(), logits, request, null).text();
    }

    @Test
    void everyConstrainedReplyValidatesAgainstItsSchema() throws Exception {
        JsonSchema schema = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012)
                .getSchema(JSON.readTree(JsonGrammarTest.PERSON));
        Grammar grammar = JsonGrammar.of(JsonGrammarTest.PERSON);
        for (long seed = 0; seed < RUNS; seed++) {
            String text = reply(grammar, seed);
            JsonNode value = JSON.readTree(text);
            assertThat(schema.validate(value)).as("seed %d: %s", seed, text).isEmpty();
        }
        int valid = 0;
        for (long seed = 0; seed < 10; seed++) {
            try {
                if (schema.validate(JSON.readTree(reply(null, seed))).isEmpty()) valid++;
            } catch (Exception notJson) {
                // the unconstrained reply is not even JSON
            }
        }
        assertThat(valid)
                .as("unconstrained replies (of 10) that happen to validate")
                .isZero();
    }

    @Test
    void everyJsonObjectReplyParsesAsAnObject() throws Exception {
        Grammar grammar = JsonGrammar.anyObject();
        for (long seed = 0; seed < RUNS; seed++) {
            String text = reply(grammar, seed);
            assertThat(JSON.readTree(text).isObject())
                    .as("seed %d: %s", seed, text)
                    .isTrue();
        }
    }
}
