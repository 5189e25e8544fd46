package io.razorstream.engine.model;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.arch.Architecture.Feature;
import io.razorstream.engine.model.arch.Architecture.RopeStyle;
import io.razorstream.engine.model.arch.Family;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The "add a family" recipe end to end: {@link ToyLlama}, one file in the test sources, is registered by its annotation
 * alone, found by its GGUF name, and a random model written under that name loads and runs as that family (its
 * features, scale hook and metadata), not as llama, from the very same tensors.
 */
class NewFamilyTest {
    @TempDir
    static Path dir;

    @Test
    void theFamiliesAreDiscoveredSortedByName() {
        assertThat(Family.names())
                .containsAll(List.of("gemma2", "gemma3", "llama", "phi3", "qwen2", "qwen3", ToyLlama.NAME))
                .isSorted();
        assertThat(Family.named(ToyLlama.NAME)).isInstanceOf(ToyLlama.class);
        assertThat(Family.named("no-such-family")).isNull();
    }

    @Test
    void gemma27bScalesByEmbeddingOverHeadsOthersByHeadSize() {
        // Gemma 2 27B: 46 layers, 4608 / 32 = 144; Gemma 3 27B: 62 layers, 5376 / 32 = 168; both heads of 128.
        assertThat(Family.named("gemma2").attentionScale(46, 4608, 32, 128)).isEqualTo((float) (1 / Math.sqrt(144)));
        assertThat(Family.named("gemma3").attentionScale(62, 5376, 32, 128)).isEqualTo((float) (1 / Math.sqrt(168)));
        assertThat(Family.named("gemma2").attentionScale(26, 2304, 8, 256)).isEqualTo(1f / 16);
        assertThat(Family.named("llama").attentionScale(46, 4608, 32, 128)).isEqualTo((float) (1 / Math.sqrt(128)));
    }

    @Test
    void aFamilyInOneFileLoadsAndRunsAsItself() throws IOException {
        Path toy = dir.resolve("toy.gguf"), llama = dir.resolve("llama.gguf");
        // The same seed and a family without tensors of its own: the two files hold the same weights.
        RandomModel.write(ModelShape.TINY, GgmlType.F32, 7, 64, ToyLlama.NAME, toy);
        RandomModel.write(ModelShape.TINY, GgmlType.F32, 7, 64, "llama", llama);
        int[] tokens = {1, 17, 301, 42, 5, 99, 250, 7};
        float[] toyLogits, llamaLogits;
        try (LoadedModel loaded = LoadedModel.open(toy);
                Parallel parallel = new Parallel(2)) {
            ModelConfig c = loaded.model().config();
            assertThat(c.architecture()).isEqualTo(ToyLlama.NAME);
            assertThat(c.arch().rope()).isEqualTo(RopeStyle.NEOX);
            assertThat(c.arch().features())
                    .containsExactlyInAnyOrder(Feature.EMBEDDING_SCALE, Feature.GELU_FFN, Feature.QUERY_PRESCALE);
            assertThat(c.attentionScale()).isEqualTo(0.5f / (float) Math.sqrt(ModelShape.TINY.headDim));
            assertThat(c.finalSoftcap()).isEqualTo(20f);
            toyLogits = run(loaded.model(), tokens, parallel);
        }
        try (LoadedModel loaded = LoadedModel.open(llama);
                Parallel parallel = new Parallel(2)) {
            assertThat(loaded.model().config().architecture()).isEqualTo("llama");
            assertThat(loaded.model().config().finalSoftcap()).isZero();
            llamaLogits = run(loaded.model(), tokens, parallel);
        }
        assertThat(toyLogits).hasSize(ModelShape.TINY.vocabulary);
        for (float x : toyLogits) assertThat(x).isFinite();
        for (float x : toyLogits) assertThat(Math.abs(x)).isLessThanOrEqualTo(20f); // the toy's softcap applied
        double worst = 0;
        for (int i = 0; i < toyLogits.length; i++) worst = Math.max(worst, Math.abs(toyLogits[i] - llamaLogits[i]));
        assertThat(worst).as("toyllama vs llama on the same weights").isGreaterThan(1e-3);
    }

    private static float[] run(Transformer m, int[] tokens, Parallel parallel) {
        return m.forward(m.newCache(tokens.length, KvPrecision.F16), tokens, 0, tokens.length, parallel);
    }
}
