package io.razorstream.engine;

import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufTensorInfo;
import io.razorstream.engine.gguf.GgufValue;
import io.razorstream.engine.gguf.GgufWriter;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Generation loop behaviour on the embedded stories260K model (no ../shared needed). */
class GeneratorTest {

    /** Copies a GGUF through the writer, with some metadata replaced. */
    static void copyWith(Path from, Path to, Map<String, GgufValue> overrides) throws IOException {
        try (GgufFile in = GgufFile.open(from)) {
            GgufWriter w = new GgufWriter();
            in.metadata().forEach((k, v) -> w.put(k, overrides.getOrDefault(k, v)));
            overrides.forEach((k, v) -> {
                if (!in.metadata().containsKey(k)) w.put(k, v);
            });
            for (GgufTensorInfo t : in.tensors().values()) {
                w.addTensor(t.name(), t.type(), t.shape(), in.tensorData(t).toArray(ValueLayout.JAVA_BYTE));
            }
            w.write(to);
        }
    }

    @Test
    void stopsAtTheEndOfTextTokenWithoutEmittingIt(@TempDir Path dir) throws IOException {
        // Make "," (432, greedy's first pick after "Once upon a time") the model's EOS.
        Path file = dir.resolve("eos-comma.gguf");
        copyWith(DefaultModel.path(), file, Map.of("tokenizer.ggml.eos_token_id", GgufValue.ofUint32(432)));
        try (LoadedModel m = LoadedModel.open(file);
                Parallel p = new Parallel(1)) {
            List<Integer> streamed = new ArrayList<>();
            Generator.Result r = new Generator(m, p)
                    .generate("Once upon a time", 20, SamplerConfig.GREEDY, (t, s) -> streamed.add(t));
            assertThat(r.stoppedAtEndOfGeneration()).isTrue();
            assertThat(r.generatedTokens()).isEmpty();
            assertThat(streamed).isEmpty();
        }
        // The unmodified model continues past that point.
        try (LoadedModel m = LoadedModel.open(DefaultModel.path());
                Parallel p = new Parallel(1)) {
            Generator.Result r = new Generator(m, p).generate("Once upon a time", 20, SamplerConfig.GREEDY, null);
            assertThat(r.stoppedAtEndOfGeneration()).isFalse();
            assertThat(r.generatedTokens()).hasSize(20).startsWith(432);
        }
    }

    @Test
    void streamedPiecesAddUpToTheResultText() {
        try (LoadedModel m = LoadedModel.open(DefaultModel.path());
                Parallel p = new Parallel(2)) {
            StringBuilder streamed = new StringBuilder();
            Generator.Result r = new Generator(m, p)
                    .generate(
                            "Lily", 40, new SamplerConfig(1.0f, 0, 1f, 0f, 1.1f, 64, 3), (t, s) -> streamed.append(s));
            assertThat(streamed.toString()).isEqualTo(r.text()).isNotBlank();
            assertThat(r.generatedTokens()).hasSize(40);
        }
    }

    @Test
    void promptLongerThanTheContextIsAClearError() {
        try (LoadedModel m = LoadedModel.open(DefaultModel.path());
                Parallel p = new Parallel(1)) {
            int ctx = m.model().config().contextLength();
            int[] prompt = new int[ctx + 1];
            Arrays.fill(prompt, 410);
            assertThatThrownBy(() -> new Generator(m, p).generate(prompt, 4, SamplerConfig.GREEDY, null))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("context");
        }
    }

    @Test
    void specialTokenTextIsParsedOnlyWhenAskedTo() {
        try (LoadedModel m = LoadedModel.open(DefaultModel.path())) {
            var tok = m.tokenizer();
            assertThat(tok.encode("<s>", false, true)).containsExactly(1);
            assertThat(tok.encode("<s>", false, false)).doesNotContain(1).isNotEmpty();
            assertThat(tok.encode("", true, true)).containsExactly(1);
        }
    }
}
