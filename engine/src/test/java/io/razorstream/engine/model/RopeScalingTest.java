package io.razorstream.engine.model;

import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.gguf.GgufWriter;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Parallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.function.IntToDoubleFunction;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Linear rope scaling from metadata is the same as a rope_freqs tensor of that factor; LongRoPE is the rope_freqs
 * tensor of its long or its short factors, chosen by the context; the attention factor scales q and k; unknown schemes
 * are refused.
 */
class RopeScalingTest {
    static float[] logits(Path file) {
        try (var gguf = GgufFile.open(file);
                Parallel p = new Parallel(1)) {
            Transformer m = Transformer.load(gguf);
            int[] tokens = {1, 300, 301, 302, 303, 304, 305, 306};
            return m.forward(m.newCache(8, KvPrecision.F32), tokens, 0, tokens.length, p);
        }
    }

    @Test
    void linearScalingEqualsFrequencyFactors(@TempDir Path dir) throws Exception {
        TinyLlamaFiles.Spec spec = TinyLlamaFiles.Spec.defaults().withVocab(320);
        Path plain = dir.resolve("plain.gguf"),
                linear = dir.resolve("linear.gguf"),
                tensor = dir.resolve("tensor.gguf"),
                yarn = dir.resolve("yarn.gguf");
        TinyLlamaFiles.writer(spec).write(plain);
        GgufWriter w = TinyLlamaFiles.writer(spec);
        w.putString("llama.rope.scaling.type", "linear");
        w.putFloat32("llama.rope.scaling.factor", 4f);
        w.write(linear);
        GgufWriter t = TinyLlamaFiles.writer(spec);
        int pairs = spec.headSize() / 2;
        ByteBuffer factors = ByteBuffer.allocate(4 * pairs).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < pairs; i++) factors.putFloat(4f);
        t.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {pairs}, factors.array());
        t.write(tensor);
        assertThat(logits(linear)).isEqualTo(logits(tensor)).isNotEqualTo(logits(plain));

        GgufWriter y = TinyLlamaFiles.writer(spec);
        y.putString("llama.rope.scaling.type", "yarn");
        y.putFloat32("llama.rope.scaling.factor", 4f);
        y.write(yarn);
        assertThatThrownBy(() -> logits(yarn))
                .isInstanceOf(GgufFormatException.class)
                .hasMessageContaining("rope scaling 'yarn' is not supported");
    }

    static ByteBuffer factors(int pairs, IntToDoubleFunction f) {
        ByteBuffer b = ByteBuffer.allocate(4 * pairs).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < pairs; i++) b.putFloat((float) f.applyAsDouble(i));
        return b;
    }

    @Test
    void longRopeUsesTheLongFactorsOnlyBeyondTheOriginalContext(@TempDir Path dir) throws Exception {
        TinyLlamaFiles.Spec spec = TinyLlamaFiles.Spec.defaults().withVocab(320); // context 64
        int pairs = spec.headSize() / 2;
        ByteBuffer longFactors = factors(pairs, i -> 1 + 0.75 * i), shortFactors = factors(pairs, i -> 1 + 0.05 * i);
        Path beyond = dir.resolve("beyond.gguf"),
                within = dir.resolve("within.gguf"),
                asLong = dir.resolve("long.gguf"),
                asShort = dir.resolve("short.gguf");
        for (Path p : List.of(beyond, within)) {
            GgufWriter w = TinyLlamaFiles.writer(spec);
            w.putUint32("llama.rope.scaling.original_context_length", p == beyond ? 16 : 64);
            w.addTensor("rope_factors_long.weight", GgmlType.F32, new long[] {pairs}, longFactors.array());
            w.addTensor("rope_factors_short.weight", GgmlType.F32, new long[] {pairs}, shortFactors.array());
            w.write(p);
        }
        for (Path p : List.of(asLong, asShort)) {
            GgufWriter w = TinyLlamaFiles.writer(spec);
            w.addTensor(
                    "rope_freqs.weight",
                    GgmlType.F32,
                    new long[] {pairs},
                    (p == asLong ? longFactors : shortFactors).array());
            w.write(p);
        }
        assertThat(logits(asLong)).isNotEqualTo(logits(asShort));
        assertThat(logits(beyond))
                .as("context 64 > original 16: the long factors")
                .isEqualTo(logits(asLong));
        try (var gguf = GgufFile.open(beyond);
                var other = GgufFile.open(within)) {
            assertThat(ModelWeights.ropeScaling(gguf, ModelConfig.from(gguf)))
                    .isEqualTo("LongRoPE, the long factors (context 64 > original 16)");
            assertThat(ModelWeights.ropeScaling(other, ModelConfig.from(other)))
                    .isEqualTo("LongRoPE, the short factors (context 64 <= original 64)");
        }
        assertThat(logits(within))
                .as("context 64 = original 64: the short factors")
                .isEqualTo(logits(asShort));

        Path half = dir.resolve("half.gguf");
        GgufWriter w = TinyLlamaFiles.writer(spec);
        w.addTensor("rope_factors_long.weight", GgmlType.F32, new long[] {pairs}, longFactors.array());
        w.write(half);
        assertThatThrownBy(() -> logits(half))
                .isInstanceOf(GgufFormatException.class)
                .hasMessageContaining("LongRoPE needs both rope_factors_long and "
                        + "rope_factors_short; the file has only rope_factors_long");
    }

    @Test
    void theAttentionFactorScalesQueriesAndKeys(@TempDir Path dir) throws Exception {
        float m = 1.5f;
        TinyLlamaFiles.Spec spec = TinyLlamaFiles.Spec.defaults().withVocab(320).withWeightStd(0.2f);
        TinyLlamaFiles.Spec scaledProjections = spec;
        for (int l = 0; l < spec.layers(); l++) {
            scaledProjections = scaledProjections
                    .withTensorScaled("blk." + l + ".attn_q.weight", m)
                    .withTensorScaled("blk." + l + ".attn_k.weight", m);
        }
        Path plain = TinyLlamaFiles.write(dir.resolve("plain.gguf"), spec),
                scaled = TinyLlamaFiles.write(dir.resolve("scaled.gguf"), scaledProjections);
        Path factor = dir.resolve("factor.gguf");
        GgufWriter w = TinyLlamaFiles.writer(spec);
        w.putFloat32("llama.rope.scaling.attn_factor", m);
        w.write(factor);
        float[] withFactor = logits(factor), expected = logits(scaled), without = logits(plain);
        assertThat(maxDifference(withFactor, expected))
                .as("m * rope(q) = rope(m * q), up to rounding")
                .isLessThan(1e-4f);
        assertThat(maxDifference(without, expected))
                .as("and the factor matters")
                .isGreaterThan(1e-2f);
        try (var gguf = GgufFile.open(factor);
                var none = GgufFile.open(plain)) {
            assertThat(ModelWeights.ropeScaling(gguf, ModelConfig.from(gguf))).isEqualTo("none, attention factor 1.5");
            assertThat(ModelWeights.ropeScaling(none, ModelConfig.from(none))).isEqualTo("none");
        }
    }

    static float maxDifference(float[] a, float[] b) {
        float max = 0;
        for (int i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
        return max;
    }
}
