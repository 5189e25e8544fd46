package io.razorstream.app.cli;

import io.razorstream.engine.grammar.JsonGrammar;
import io.razorstream.proto.v1.GenerationParams;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The reply's form and extras, for the commands that send a turn: JSON by grammar, log probabilities. */
final class ReplyFormatOptions {
    @Option(names = "--json-object", description = "the reply is one JSON object (grammar-constrained sampling)")
    boolean jsonObject;

    @Option(
            names = "--json-schema",
            paramLabel = "FILE",
            description = "the reply is a value of this JSON Schema (grammar-constrained sampling)")
    Path jsonSchema;

    @Option(
            names = "--logprobs",
            paramLabel = "N",
            description = "report each reply token's log probability, with the N (0-20) most likely tokens")
    Integer logprobs;

    /** Sets the chosen options on {@code p}; a schema the grammar cannot express is refused here, by name. */
    void apply(GenerationParams.Builder p) {
        if (jsonObject && jsonSchema != null)
            throw new IllegalArgumentException("--json-object or --json-schema, not both");
        if (jsonObject) p.setJsonObject(true);
        if (jsonSchema != null) {
            String schema;
            try {
                schema = Files.readString(jsonSchema);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the JSON schema " + jsonSchema + ": " + e.getMessage(), e);
            }
            JsonGrammar.of(schema);
            p.setJsonSchema(schema);
        }
        if (logprobs != null) p.setLogprobs(true).setTopLogprobs(logprobs);
    }
}
