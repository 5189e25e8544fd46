package io.razorstream.engine.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.razorstream.engine.Generator;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

@Command(
        name = "generate",
        mixinStandardHelpOptions = true,
        description = "Continue a prompt: the continuation goes to stdout as it is generated, timings to stderr.")
final class GenerateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Option(
            names = {"-p", "--prompt"},
            defaultValue = "Once upon a time",
            description = "prompt text (default: ${DEFAULT-VALUE})")
    String prompt;

    @Option(
            names = {"-n", "--max-tokens"},
            defaultValue = "128",
            description = "tokens to generate at most (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "0 = greedy (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-k", defaultValue = "40", description = "0 = off (default: ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "1 = off (default: ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--min-p", defaultValue = "0.05", description = "0 = off (default: ${DEFAULT-VALUE})")
    float minP;

    @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "1 = off (default: ${DEFAULT-VALUE})")
    float repeatPenalty;

    @Option(
            names = "--repeat-last-n",
            defaultValue = "64",
            description = "tokens the penalty looks back over (default: ${DEFAULT-VALUE})")
    int repeatLastN;

    @Option(
            names = {"-s", "--seed"},
            description = "random seed (default: a new one each run, printed to stderr)")
    Long seed;

    @Mixin
    ThreadsOption threads;

    @Option(
            names = "--json",
            description =
                    "print one JSON object at the end (prompt and generated token ids, text, finish reason, speeds) "
                            + "instead of streaming the text")
    boolean json;

    @Option(
            names = "--ignore-eos",
            description = "generate past end-of-generation tokens, up to --max-tokens (as llama.cpp's --ignore-eos; "
                    + "llama.cpp's reference outputs are made so)")
    boolean ignoreEos;

    @Option(
            names = "--kv-precision",
            defaultValue = "F16",
            description = "KV cache precision: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
    KvPrecision kvPrecision;

    @Override
    public Integer call() {
        if (maxTokens < 0) throw new IllegalArgumentException("--max-tokens must be >= 0");
        long s = seed != null ? seed : System.nanoTime();
        SamplerConfig sampling = new SamplerConfig(temperature, topK, topP, minP, repeatPenalty, repeatLastN, s);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        int n = threads.resolve();
        try (LoadedModel loaded = LoadedModel.open(model.resolve());
                Parallel parallel = new Parallel(n)) {
            Generator generator = new Generator(loaded, parallel, kvPrecision, Decoder.PREFILL_BATCH);
            Generator.Result r = generator.generate(
                    loaded.tokenizer().encode(prompt, true, true),
                    maxTokens,
                    sampling,
                    ignoreEos,
                    json
                            ? null
                            : (token, text) -> {
                                out.print(text);
                                out.flush();
                            });
            if (json) {
                ObjectNode o = JSON.createObjectNode();
                ArrayNode promptIds = o.putArray("promptTokenIds"), generated = o.putArray("generatedTokenIds");
                for (int id : r.promptTokens()) promptIds.add(id);
                for (int id : r.generatedTokens()) generated.add(id);
                o.put("text", r.text())
                        .put("finishReason", r.finish().name())
                        .put("prefillTokensPerSecond", r.prefillTokensPerSecond())
                        .put("decodeTokensPerSecond", r.decodeTokensPerSecond())
                        .put("seed", s);
                try {
                    out.print(JSON.writeValueAsString(o));
                } catch (JsonProcessingException e) {
                    throw new IllegalStateException(e);
                }
            }
            out.println();
            out.flush();
            err.printf(
                    "%nprompt: %d tokens in %.1f ms (%.1f tokens/s); generated: "
                            + "%d tokens (%.1f tokens/s decode)%s; seed %d, %d threads%n",
                    r.promptTokens().length,
                    r.prefillNanos() / 1e6,
                    r.prefillTokensPerSecond(),
                    r.generatedTokens().length,
                    r.decodeTokensPerSecond(),
                    r.stoppedAtEndOfGeneration() ? ", stopped at end of text" : "",
                    s,
                    n);
            err.flush();
        }
        return 0;
    }
}
