package io.razorstream.engine.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;

@Command(
        name = "tokenize",
        mixinStandardHelpOptions = true,
        description = "Token ids of a text with the model's tokenizer, as "
                + "llama-tokenize gives them: one 'ID -> PIECE' line per " + "token, "
                + "one JSON object with --json, or with --stdin-jsonl one JSON "
                + "array of ids per input line (a JSON string each).")
final class TokenizeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Option(names = "--text", description = "the text to tokenize")
    String text;

    @Option(names = "--special", description = "turn control-token text (e.g. <|im_start|>) into those tokens")
    boolean special;

    @Option(names = "--no-bos", description = "do not add the BOS token the model's vocabulary asks for")
    boolean noBos;

    @Option(names = "--json", description = "print {\"ids\": [...], \"pieces\": [...]}")
    boolean json;

    @Option(
            names = "--stdin-jsonl",
            description = "read one JSON string per line from stdin, print one JSON array of ids per line")
    boolean stdinJsonl;

    @Override
    public Integer call() throws IOException {
        if ((text == null) == !stdinJsonl)
            throw new IllegalArgumentException("give exactly one of --text TEXT and --stdin-jsonl");
        PrintWriter out = spec.commandLine().getOut();
        // Only the vocabulary is read: a vocab-only GGUF (no tensors) tokenizes too.
        try (GgufFile gguf = GgufFile.open(model.resolve())) {
            Tokenizer tokenizer = Tokenizer.from(gguf);
            if (stdinJsonl) {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                int lineNumber = 0;
                for (String line; (line = in.readLine()) != null; ) {
                    lineNumber++;
                    JsonNode node;
                    try {
                        node = JSON.readTree(line);
                    } catch (JsonProcessingException e) {
                        throw new IllegalArgumentException(
                                "stdin line " + lineNumber + " is not JSON: " + e.getOriginalMessage());
                    }
                    if (node == null || !node.isTextual())
                        throw new IllegalArgumentException("stdin line " + lineNumber + " is not a JSON string");
                    out.println(JSON.writeValueAsString(tokenizer.encode(node.asText(), !noBos, special)));
                    out.flush();
                }
                return 0;
            }
            int[] ids = tokenizer.encode(text, !noBos, special);
            if (json) {
                ObjectNode o = JSON.createObjectNode();
                ArrayNode idArray = o.putArray("ids"), pieces = o.putArray("pieces");
                for (int id : ids) {
                    idArray.add(id);
                    pieces.add(new String(tokenizer.piece(id), StandardCharsets.UTF_8));
                }
                out.println(JSON.writeValueAsString(o));
            } else {
                for (int id : ids)
                    out.printf("%6d -> '%s'%n", id, new String(tokenizer.piece(id), StandardCharsets.UTF_8));
            }
        }
        out.flush();
        return 0;
    }
}
