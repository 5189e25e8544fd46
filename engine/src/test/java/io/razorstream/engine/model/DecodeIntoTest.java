package io.razorstream.engine.model;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Parallel;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Transformer#decode} (one reused logits array, the thread's reused buffers and prepared inputs) gives exactly
 * {@link Transformer#forward}'s logits, step after step, for quantised and float weights.
 */
class DecodeIntoTest {
    @TempDir
    static Path dir;

    @ParameterizedTest
    @EnumSource(
            value = GgmlType.class,
            names = {"Q8_0", "Q4_K", "F16", "F32"})
    void decodeIntoOneArrayEqualsForward(GgmlType type) throws IOException {
        Path file = dir.resolve("tiny-" + type + ".gguf");
        RandomModel.write(ModelShape.TINY, type, 9, file);
        try (LoadedModel loaded = LoadedModel.open(file);
                Parallel parallel = new Parallel(2)) {
            Transformer m = loaded.model();
            KvCache a = m.newCache(64, KvPrecision.F16), b = m.newCache(64, KvPrecision.F16);
            int[] prompt = {1, 17, 33, 250, 4};
            float[] fa = m.forward(a, prompt, 0, prompt.length, parallel),
                    fb = m.forward(b, prompt, 0, prompt.length, parallel);
            assertThat(fb).isEqualTo(fa);
            float[] into = new float[m.config().vocabularySize()];
            int token = 7;
            for (int step = 0; step < 20; step++) {
                float[] expected = m.forward(a, new int[] {token}, 0, 1, parallel);
                m.decode(b, token, into, parallel);
                assertThat(into).as("step %d", step).isEqualTo(expected);
                token = (token * 31 + step) % m.config().vocabularySize();
            }
        }
    }
}
