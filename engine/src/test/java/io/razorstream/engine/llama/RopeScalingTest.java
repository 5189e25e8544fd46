package io.razorstream.engine.llama;

import io.razorstream.engine.kv.KvPrecision;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.gguf.GgufWriter;
import io.razorstream.engine.tensor.GgmlType;
import io.razorstream.engine.tensor.Parallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Linear rope scaling from metadata is the same as a rope_freqs tensor of that factor; unknown schemes are refused. */
class RopeScalingTest {
    static float[] logits(Path file) {
        try (var gguf = io.razorstream.engine.gguf.GgufFile.open(file); Parallel p = new Parallel(1)) {
            Transformer m = Transformer.load(gguf);
            int[] tokens = {1, 300, 301, 302, 303, 304, 305, 306};
            return m.forward(m.newCache(8, KvPrecision.F32), tokens, 0, tokens.length, p);
        }
    }

    @Test
    void linearScalingEqualsFrequencyFactors(@TempDir Path dir) throws Exception {
        TinyLlamaFiles.Spec spec = TinyLlamaFiles.Spec.defaults().withVocab(320);
        Path plain = dir.resolve("plain.gguf"), linear = dir.resolve("linear.gguf"), tensor = dir.resolve("tensor.gguf"), yarn = dir.resolve("yarn.gguf");
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
        assertThatThrownBy(() -> logits(yarn)).isInstanceOf(GgufFormatException.class).hasMessageContaining("rope scaling 'yarn' is not supported");
    }
}
