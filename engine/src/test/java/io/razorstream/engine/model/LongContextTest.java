package io.razorstream.engine.model;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Parallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An 8192-token prompt prefilled in one pass gives the same logits as 8192 one-token decode steps, on a tiny random
 * model (F32 weights and cache). Tolerance: zero. With F32 weights the batched (GEMM) and single-token kernels multiply
 * the same floats in the same fixed order, and attention runs per (token, head) over the cached positions in position
 * order either way, so the numbers are identical bit for bit; any difference means the batch path mixes tokens up (a
 * causal-mask or position bug). Memory: the prefill's attention keeps one row of scores per worker (O(context)), never
 * a context x context matrix; its per-token buffers are O(batch x model width).
 */
class LongContextTest {
    @Test
    void prefillOf8192TokensEqualsDecodingThemOneByOne(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("tiny.gguf");
        RandomModel.write(ModelShape.TINY, GgmlType.F32, 3, 8192, file);
        int n = 8192;
        int[] tokens = new int[n];
        SplittableRandom r = new SplittableRandom(5);
        tokens[0] = 1;
        for (int i = 1; i < n; i++) tokens[i] = 3 + r.nextInt(500);
        try (LoadedModel m = LoadedModel.open(file);
                Parallel p = new Parallel(2)) {
            Transformer model = m.model();
            KvCache batch = model.newCache(n, KvPrecision.F32);
            float[] prefilled = model.forward(batch, tokens, 0, n, p);
            KvCache steps = model.newCache(n, KvPrecision.F32);
            float[] decoded = null;
            for (int i = 0; i < n; i++) decoded = model.forward(steps, tokens, i, 1, p);
            assertThat(prefilled).isEqualTo(decoded);
            assertThat(batch.size()).isEqualTo(n);
        }
    }
}
