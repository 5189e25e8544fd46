package io.razorstream.engine.model;

import io.razorstream.engine.Generator;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.SharedModels;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.kernel.NativeVariantUnderTest;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** stories260K (a real trained model) against llama.cpp's reference outputs in ../shared/models. */
@ExtendWith(NativeVariantUnderTest.class)
class Stories260KParityTest {
    private static LoadedModel model;
    private static Parallel parallel;

    @BeforeAll
    static void open() {
        model = LoadedModel.open(SharedModels.require("stories260K.gguf"));
        parallel = new Parallel(2);
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
        if (parallel != null) parallel.close();
    }

    /** The reference file's "generated_tokens (N): ..." and "text: ..." (to the end of the file). */
    record Reference(int[] generated, String text) {
        static Reference read(Path file) throws IOException {
            List<String> lines = Files.readAllLines(file);
            int[] ids = null;
            StringBuilder text = null;
            for (String line : lines) {
                if (line.startsWith("generated_tokens")) {
                    ids = Arrays.stream(
                                    line.substring(line.indexOf(':') + 1).trim().split(" "))
                            .mapToInt(Integer::parseInt)
                            .toArray();
                } else if (line.startsWith("text: ")) {
                    text = new StringBuilder(line.substring("text: ".length()));
                } else if (text != null) {
                    text.append('\n').append(line);
                }
            }
            return new Reference(ids, text.toString());
        }
    }

    @Test
    void promptTokenisesLikeLlamaCpp() {
        assertThat(model.tokenizer().encode("Once upon a time", true, true)).containsExactly(1, 403, 407, 261, 378);
    }

    @Test
    void greedy64TokensMatchLlamaCppText() throws IOException {
        Reference ref = Reference.read(SharedModels.require("stories260K.greedy-once-upon-a-time-64.txt"));
        Generator.Result r =
                new Generator(model, parallel).generate("Once upon a time", 64, SamplerConfig.GREEDY, null);
        assertThat(r.generatedTokens()).containsExactly(ref.generated());
        assertThat("Once upon a time" + r.text()).isEqualTo(ref.text());
    }

    @Test
    void greedy256TokensFromBosMatchReferenceFile() throws IOException {
        Reference ref = Reference.read(SharedModels.require("stories260K.greedy-bos-256.txt"));
        Generator.Result r = new Generator(model, parallel).generate("", 256, SamplerConfig.GREEDY, null);
        assertThat(r.promptTokens()).containsExactly(1);
        assertThat(r.generatedTokens()).containsExactly(ref.generated());
        assertThat(r.text()).isEqualTo(ref.text());
    }

    /** Within 1e-3 on both tiers (llama.cpp's rounding steps, the native attention included). */
    @Test
    void firstStepTop5LogitsWithin1e3() {
        float tolerance = 1e-3f;
        Transformer m = model.model();
        KvCache cache = m.newCache(64, KvPrecision.F16);
        float[] logits = m.forward(cache, new int[] {1, 403, 407, 261, 378}, 0, 5, parallel);
        int[] ids = {432, 383, 322, 353, 323};
        float[] expected = {17.798916f, 14.282507f, 9.709796f, 9.586159f, 9.135535f};
        for (int i = 0; i < ids.length; i++) {
            assertThat(logits[ids[i]]).as("logit of token %d", ids[i]).isCloseTo(expected[i], within(tolerance));
        }
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        assertThat(Arrays.copyOf(order, 5)).containsExactly(432, 383, 322, 353, 323);

        float[] fromBos = m.forward(m.newCache(8, KvPrecision.F16), new int[] {1}, 0, 1, parallel);
        int[] bosIds = {403, 385, 410, 317, 407};
        float[] bosExpected = {17.023766f, 15.406727f, 13.108759f, 12.769675f, 12.417802f};
        for (int i = 0; i < bosIds.length; i++)
            assertThat(fromBos[bosIds[i]]).isCloseTo(bosExpected[i], within(tolerance));
    }
}
