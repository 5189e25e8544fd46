package io.razorstream.engine.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.razorstream.engine.DefaultModel;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The command line, run in process on the embedded model and on small generated files. */
class CliTest {

    record Run(int exit, String out, String err) {}

    static Run run(String... args) {
        CommandLine cl = RazorCli.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void tokenizeGivesLlamaCppsIdsAsLinesJsonAndJsonLines() {
        // llama-tokenize's ids for this text with stories260K's vocabulary (../shared/models/fixtures/ARCHITECTURES.md)
        String ids = "[1,403,407,261,378,432,261,376,352,414,430,309]";
        Run json = run("tokenize", "--text", "Once upon a time, a little robot", "--json");
        assertThat(json.exit()).as(json.err()).isZero();
        assertThat(json.out()).startsWith("{\"ids\":" + ids + ",\"pieces\":[\"\",\" Once\"");
        Run lines = run("tokenize", "--text", "Once upon a time, a little robot", "--no-bos");
        assertThat(lines.out().lines()).hasSize(11).first().asString().contains("403 -> ' Once'");
        InputStream stdin = System.in;
        try {
            System.setIn(new ByteArrayInputStream(
                    "\"Once upon a time, a little robot\"\n\"\"\n".getBytes(StandardCharsets.UTF_8)));
            Run jsonl = run("tokenize", "--stdin-jsonl");
            assertThat(jsonl.out().lines()).containsExactly(ids, "[1]");
            System.setIn(new ByteArrayInputStream("\"a\"\nnope\n".getBytes(StandardCharsets.UTF_8)));
            Run bad = run("tokenize", "--stdin-jsonl");
            assertThat(bad.out().lines()).hasSize(1); // the good line before it is answered
            assertThat(bad.err()).contains("stdin line 2 is not JSON").hasLineCount(1);
            assertThat(bad.exit()).isNotZero();
        } finally {
            System.setIn(stdin);
        }
        assertThat(run("tokenize").err()).contains("give exactly one of --text TEXT and --stdin-jsonl");
    }

    @Test
    void tokenizeReadsAVocabularyOnlyFile(@TempDir Path dir) throws Exception {
        Path vocab = dir.resolve("vocab-only.gguf");
        try (var in = GgufFile.open(DefaultModel.path())) {
            var w = new GgufWriter();
            in.metadata().forEach((k, v) -> {
                if (k.startsWith("tokenizer.") || k.equals("general.architecture")) w.put(k, v);
            });
            w.write(vocab); // no tensors at all
        }
        Run r = run("tokenize", "--model", vocab.toString(), "--text", "Once upon a time, a little robot", "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("{\"ids\":[1,403,407,261,378,432,261,376,352,414,430,309]");
        assertThat(run("generate", "--model", vocab.toString(), "--max-tokens", "1")
                        .err())
                .contains("vocab-only.gguf")
                .contains("is missing"); // a model needs more
    }

    @Test
    void generateJsonIsOneObjectWithTheIdsTextAndFinishReason() throws Exception {
        Run r = run(
                "generate",
                "--prompt",
                "Once upon a time",
                "--temperature",
                "0",
                "--max-tokens",
                "12",
                "--threads",
                "1",
                "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        var o = new ObjectMapper().readTree(r.out());
        assertThat(o.get("text").asText()).startsWith(", there was a little girl named Lily.");
        assertThat(o.get("promptTokenIds").size()).isEqualTo(5);
        assertThat(o.get("generatedTokenIds").size()).isEqualTo(12);
        assertThat(o.get("finishReason").asText()).isEqualTo("LENGTH");
        assertThat(o.get("decodeTokensPerSecond").asDouble()).isPositive();
    }

    /** (Past end-of-generation itself: DecoderTest; stories260K never ends a story with EOS.) */
    @Test
    void ignoreEosIsAcceptedAndRunsToTheBudget() throws Exception {
        Run r = run(
                "generate",
                "--prompt",
                "Once upon a time",
                "--temperature",
                "0",
                "--max-tokens",
                "40",
                "--threads",
                "1",
                "--json",
                "--ignore-eos");
        assertThat(r.exit()).as(r.err()).isZero();
        var o = new ObjectMapper().readTree(r.out());
        assertThat(o.get("finishReason").asText()).isEqualTo("LENGTH");
        assertThat(o.get("generatedTokenIds").size()).isEqualTo(40);
        assertThat(o.get("text").asText()).startsWith(", there was a little girl named Lily.");
    }

    @Test
    void generateGreedyWithTheEmbeddedModelContinuesThePromptWithoutEchoingIt() {
        Run r = run(
                "generate",
                "--prompt",
                "Once upon a time",
                "--temperature",
                "0",
                "--max-tokens",
                "12",
                "--threads",
                "1");
        assertThat(r.exit()).as(r.err()).isZero();
        // llama.cpp's greedy continuation of this prompt on stories260K (see ../shared/models/README.md)
        assertThat(r.out()).startsWith(", there was a little girl named Lily.");
        assertThat(r.err()).contains("tokens/s").contains("prompt: 5 tokens");
    }

    @Test
    void sameSeedSameTextDifferentSeedDifferentText() {
        String[] base = {
            "generate", "--prompt", "One day", "--temperature", "1.0", "--max-tokens", "40", "--threads", "1", "--seed"
        };
        Run a = run(concat(base, "7")), b = run(concat(base, "7")), c = run(concat(base, "8"));
        assertThat(a.out()).isEqualTo(b.out());
        assertThat(a.out()).isNotEqualTo(c.out());
    }

    @Test
    void anUnknownKernelTierIsOneClearErrorWithExitCode1() {
        Run r = run("generate", "--prompt", "hi", "--max-tokens", "1", "--kernels", "fastest");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err().strip())
                .contains("kernels must be auto, native or java, got 'fastest'")
                .doesNotContain("\tat ");
    }

    @Test
    void inspectPrintsMetadataAndTensorTable() {
        Run r = run("inspect");
        assertThat(r.exit()).isZero();
        assertThat(r.out())
                .contains("GGUF version 3")
                .contains("general.architecture")
                .contains("\"llama\"")
                .contains("runs on: ")
                .contains("llama.embedding_length")
                .contains("blk.4.ffn_down.weight")
                .contains("tensors (48)")
                .contains("rope: normal, base ")
                .contains("scaling: none");
    }

    @Test
    void corruptModelFileIsOneClearErrorWithExitCode1(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("bad.gguf");
        Files.writeString(bad, "definitely not a model");
        Run r = run("generate", "--model", bad.toString(), "--prompt", "hi");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).startsWith("error: ").contains(bad.toString()).contains("not a GGUF file");
        assertThat(r.err().lines().count()).isEqualTo(1);
    }

    @Test
    void badOptionsAreRejected() {
        assertThat(run("generate", "--top-p", "0").exit()).isEqualTo(1);
        assertThat(run("generate", "--threads", "0").exit()).isEqualTo(1);
        assertThat(run("generate", "--no-such-option").exit()).isEqualTo(2); // picocli usage error
        assertThat(run("random-model", "--like", "gpt-9", "--out", "x.gguf").err())
                .contains("unknown shape");
    }

    @Test
    void randomModelWritesALoadableModelOfTheNamedShape(@TempDir Path dir) {
        Path file = dir.resolve("tiny.gguf");
        Run r = run("random-model", "--like", "tiny", "--type", "Q4_0", "--out", file.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        try (LoadedModel m = LoadedModel.open(file)) {
            assertThat(m.model().config().embeddingLength()).isEqualTo(256);
            assertThat(m.model().config().kvHeadCount()).isEqualTo(4);
            assertThat(m.gguf().tensor("blk.1.ffn_up.weight").type().name()).isEqualTo("Q4_0");
        }
        Run bench = run(
                "bench",
                "--model",
                file.toString(),
                "--prompt-tokens",
                "8",
                "--gen-tokens",
                "4",
                "--repeats",
                "1",
                "--warmups",
                "0",
                "--threads",
                "1",
                "--json");
        assertThat(bench.exit()).as(bench.err()).isZero();
        assertThat(bench.out().trim())
                .startsWith("{")
                .endsWith("}")
                .contains("\"prefillTokensPerSecond\":")
                .contains("\"decodeTokensPerSecond\":")
                .contains("\"modelBytes\":")
                .contains("\"ceilingTokensPerSecond\":");
    }

    /** Two files alternated in one process: both decode speeds, one ratio per round, and their median. */
    @Test
    void benchAgainstASecondModelReportsPerRoundRatios(@TempDir Path dir) {
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf");
        assertThat(run("random-model", "--like", "tiny", "--type", "Q8_0", "--out", a.toString())
                        .exit())
                .isZero();
        assertThat(run("random-model", "--like", "tiny", "--type", "Q4_0", "--out", b.toString())
                        .exit())
                .isZero();
        Run r = run(
                "bench",
                "--model",
                a.toString(),
                "--against",
                b.toString(),
                "--prompt-tokens",
                "4",
                "--gen-tokens",
                "3",
                "--repeats",
                "3",
                "--warmups",
                "0",
                "--threads",
                "1",
                "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        String json = r.out().trim();
        assertThat(json)
                .startsWith("{\"model\":\"a.gguf\",\"against\":\"b.gguf\"")
                .contains("\"medianRatio\":");
        String[] ratios =
                json.replaceAll("(?s).*\"ratios\":\\[([^\\]]*)\\].*", "$1").split(",");
        assertThat(ratios).hasSize(3);
        for (String x : ratios) assertThat(Double.parseDouble(x)).isPositive();
        Run withContext = run("bench", "--model", a.toString(), "--against", b.toString(), "--context", "16");
        assertThat(withContext.exit()).isEqualTo(1);
        assertThat(withContext.err().trim())
                .contains("--against works with prefill + decode runs, not with --context")
                .doesNotContain("\n");
    }

    @Test
    void synthModelCopiesAKeyItHasSeenInEveryWeightType(@TempDir Path dir) {
        for (String type : new String[] {"F32", "Q8_0", "Q4_0"}) {
            Path file = dir.resolve("synth-" + type + ".gguf");
            Run w = run("synth-model", "--out", file.toString(), "--type", type);
            assertThat(w.exit()).as(w.err()).isZero();
            Run g = run(
                    "generate",
                    "--model",
                    file.toString(),
                    "--temperature",
                    "0",
                    "--max-tokens",
                    "4",
                    "--threads",
                    "1",
                    "--prompt",
                    "Hello #A9Z3 then some other text follows here. Again #");
            assertThat(g.out()).as(type).startsWith("A9Z3");
        }
    }

    @Test
    void profileWritesTheHeadProfileAndAHeatmap(@TempDir Path dir) throws IOException {
        Path model = dir.resolve("synth.gguf");
        assertThat(run("synth-model", "--out", model.toString()).exit()).isZero();
        Path png = dir.resolve("heads.png");
        Run r = run(
                "profile",
                "--model",
                model.toString(),
                "--period",
                "100",
                "--seeds",
                "1",
                "--plot",
                png.toString(),
                "--threads",
                "1");
        assertThat(r.exit()).as(r.err()).isZero();
        String json = Files.readString(dir.resolve("synth.gguf.heads.json"));
        assertThat(json)
                .contains("\"retrievalHeads\": [{\"layer\": 1, \"kvHead\": 0}, {\"layer\": 1, \"kvHead\": 1}]")
                .contains("\"period\": 100");
        byte[] image = Files.readAllBytes(png);
        assertThat(image).startsWith((byte) 0x89, (byte) 'P', (byte) 'N', (byte) 'G');
        assertThat(run("profile", "--model", model.toString(), "--period", "1000000")
                        .err())
                .contains("does not fit the context");
    }

    @Test
    void benchWithAContextComparesFullAndRazorCaches(@TempDir Path dir) {
        Path file = dir.resolve("tiny.gguf");
        assertThat(run("random-model", "--like", "tiny", "--type", "Q8_0", "--out", file.toString())
                        .exit())
                .isZero();
        String[] base = {
            "bench",
            "--model",
            file.toString(),
            "--context",
            "300",
            "--gen-tokens",
            "2",
            "--repeats",
            "1",
            "--threads",
            "1",
            "--json"
        };
        Run full = run(base);
        Run razor = run(concat(concat(concat(concat(base, "--retrieval-ratio"), "0.25"), "--window"), "16"));
        assertThat(full.exit()).as(full.err()).isZero();
        assertThat(razor.exit()).as(razor.err()).isZero();
        assertThat(full.out()).contains("\"policy\":\"full\"");
        long fullBytes = Long.parseLong(
                full.out().replaceAll("(?s).*\"cacheBytes\":(\\d+).*", "$1").trim());
        long razorBytes = Long.parseLong(
                razor.out().replaceAll("(?s).*\"cacheBytes\":(\\d+).*", "$1").trim());
        assertThat(razorBytes).isLessThan(fullBytes / 2);
        // Without the compensation token the window heads drop their fp32 sums; calibrated needs a profile to say
        // where.
        String[] razorArgs = concat(concat(concat(concat(base, "--retrieval-ratio"), "0.25"), "--window"), "16");
        Run none = run(concat(concat(razorArgs, "--compensation"), "none"));
        assertThat(none.exit()).as(none.err()).isZero();
        assertThat(none.out()).contains("\"compensation\":\"none\"");
        assertThat(Long.parseLong(none.out()
                        .replaceAll("(?s).*\"cacheBytes\":(\\d+).*", "$1")
                        .trim()))
                .isLessThan(razorBytes);
        assertThat(run(concat(concat(razorArgs, "--compensation"), "calibrated"))
                        .err())
                .contains("--compensation calibrated needs a --profile");
    }

    @Test
    void evalWritesPasskeyAndKlTablesWhereRazorKeepsTheKeyAndStreamingLosesIt(@TempDir Path dir) throws IOException {
        Path model = dir.resolve("synth.gguf");
        assertThat(run("synth-model", "--out", model.toString()).exit()).isZero();
        Path out = dir.resolve("eval");
        Run r = run(
                "eval",
                "--model",
                model.toString(),
                "--probe-period",
                "100",
                "--policies",
                "full,razor,streaming,razor-noecho",
                "--lengths",
                "400",
                "--depths",
                "0,100",
                "--out",
                out.toString(),
                "--threads",
                "1");
        assertThat(r.exit()).as(r.err()).isZero();
        List<String> passkey = Files.readAllLines(out.resolve("passkey.csv"));
        assertThat(passkey.get(0)).isEqualTo("policy,length,depth,accuracy,kv_bytes,full_kv_bytes");
        // Key at the start: full and razor find it, streaming at Razor's budget does not; at the end all do.
        assertThat(passkey)
                .anyMatch(l -> l.startsWith("full,") && l.contains(",0,1,"))
                .anyMatch(l -> l.startsWith("razor,") && l.contains(",0,1,"))
                .anyMatch(l -> l.startsWith("streaming,") && l.contains(",0,0,"))
                .anyMatch(l -> l.startsWith("streaming,") && l.contains(",100,1,"))
                .anyMatch(l -> l.startsWith("razor-noecho,")
                        && l.contains(",0,1,")); // the induction head alone retrieves here
        assertThat(Files.readAllLines(out.resolve("kl.csv")))
                .hasSize(5)
                .first()
                .isEqualTo("policy,length,kl,top1_agreement,kv_bytes,full_kv_bytes");
        assertThat(out.resolve("summary.md")).exists();
        assertThat(out.resolve("memory.png")).exists();
        assertThat(out.resolve("passkey-razor.png")).exists();
        assertThat(run("eval", "--model", model.toString(), "--policies", "pyramid", "--out", out.toString())
                        .err())
                .contains("unknown policy");
        // The causal check: masking the profile's retrieval heads loses the key at the start, which the full cache
        // keeps.
        Path masked = dir.resolve("masked");
        Run m = run(
                "eval",
                "--model",
                model.toString(),
                "--probe-period",
                "100",
                "--policies",
                "full",
                "--mask-heads",
                "retrieval",
                "--lengths",
                "400",
                "--depths",
                "0",
                "--out",
                masked.toString(),
                "--threads",
                "1");
        assertThat(m.exit()).as(m.err()).isZero();
        assertThat(Files.readAllLines(masked.resolve("passkey.csv")))
                .anyMatch(l -> l.startsWith("full,") && l.contains(",0,1,"))
                .anyMatch(l -> l.startsWith("masked-retrieval,") && l.contains(",0,0,"));
        assertThat(run("eval", "--model", model.toString(), "--mask-heads", "nowhere.json", "--out", masked.toString())
                        .err())
                .contains("--mask-heads: nowhere.json is neither retrieval, random nor a profile file");
    }

    private static String[] concat(String[] a, String b) {
        String[] r = Arrays.copyOf(a, a.length + 1);
        r[a.length] = b;
        return r;
    }
}
