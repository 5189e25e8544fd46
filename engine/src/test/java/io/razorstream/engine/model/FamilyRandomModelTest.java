package io.razorstream.engine.model;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.kernel.Gemm;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Parallel;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code random-model} writes each family's tensors and keys, the engine loads them as that family, and a batch prefill
 * (the GEMM path) gives the logits that token-by-token decoding gives, with the family's own layers and, for gemma,
 * windows that cut inside the sequence; a RazorAttention cache composes with the model's windows.
 */
class FamilyRandomModelTest {
    @TempDir
    static Path dir;

    @ParameterizedTest
    @EnumSource(
            value = ModelShape.class,
            names = {"TINY_QWEN3", "TINY_GEMMA2", "TINY_GEMMA3", "TINY_PHI3"})
    void eachFamilyLoadsAsItselfAndPrefillAgreesWithDecode(ModelShape shape) throws IOException {
        Path file = dir.resolve(shape.id + ".gguf");
        RandomModel.write(shape, GgmlType.F32, 5, file);
        try (LoadedModel loaded = LoadedModel.open(file);
                Parallel parallel = new Parallel(2)) {
            Transformer m = loaded.model();
            ModelConfig c = m.config();
            assertThat(c.architecture()).isEqualTo(shape.architecture);
            assertThat(c.slidingWindow().size()).isEqualTo(shape.slidingWindow);
            if (shape == ModelShape.TINY_GEMMA3) {
                assertThat(IntStream.range(0, 6).filter(c::isLocal).boxed().toList())
                        .containsExactly(0, 1, 2, 3, 4);
                assertThat(c.slidingWindow().ropeBase()).isEqualTo(10000f);
            }
            if (shape == ModelShape.TINY_GEMMA2) assertThat(c.finalSoftcap()).isEqualTo(30f);

            int n = Math.max(Gemm.MIN_TOKENS, 24); // past gemma's window of 8
            int[] tokens = new int[n];
            for (int i = 0; i < n; i++) tokens[i] = 3 + (i * 53 + 7) % (c.vocabularySize() - 3);
            float[] batch = m.forward(m.newCache(n, KvPrecision.F16), tokens, 0, n, parallel);
            KvCache stepwise = m.newCache(n, KvPrecision.F16);
            float[] last = null;
            for (int t = 0; t < n; t++) last = m.forward(stepwise, tokens, t, 1, parallel);
            double worst = 0;
            for (int i = 0; i < batch.length; i++) worst = Math.max(worst, Math.abs(batch[i] - last[i]));
            assertThat(worst).as("%s: batch vs token-by-token", shape.id).isLessThan(2e-3);

            // A Razor policy over every head still leaves the model's windows on the local layers, and sizes count them
            // windowed.
            KvCache razor = m.newCache(
                    n,
                    KvPrecision.F16,
                    KvPolicy.razor(new boolean[c.blockCount()][c.kvHeadCount()], new WindowParams(2, 4, 5)));
            m.forward(razor, tokens, 0, n, parallel);
            for (int l = 0; l < c.blockCount(); l++) {
                assertThat(razor.policy().isSliding(l, 0)).as("layer %d", l).isEqualTo(c.isLocal(l));
            }
            long modelOwn = stepwise.fullBytes();
            assertThat(modelOwn).isEqualTo(stepwise.bytesInUse());
            if (shape.slidingWindow > 0) {
                Transformer unwindowed =
                        new Transformer(c.withSlidingWindow(ModelConfig.SlidingWindow.NONE), m.weights());
                KvCache everything = unwindowed.newCache(n, KvPrecision.F16);
                unwindowed.forward(everything, tokens, 0, n, parallel);
                assertThat(modelOwn).isLessThan(everything.fullBytes());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = ModelShape.class,
            names = {"TINYLLAMA_1_1B", "LLAMA_3_2_1B", "QWEN3_0_6B", "GEMMA_2_2B", "GEMMA_3_1B", "PHI_3_MINI"})
    void realShapesDeclareTheirFamilyAndSizes(ModelShape shape) {
        assertThat(shape.parameters()).isGreaterThan(500_000_000L);
        assertThat(shape.heads % shape.kvHeads).isZero();
        assertThat(shape.vocab == ModelShape.Vocab.SPM)
                .isEqualTo(!shape.id.startsWith("llama-3") && !shape.id.startsWith("qwen3"));
    }
}
