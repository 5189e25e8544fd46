package io.razorstream.engine.eval;

import io.razorstream.engine.DefaultModel;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.kernel.Ops;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.Transformer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The divergence measure (batched teacher forcing) equals its definition: token-by-token forwards through both caches.
 */
class EvaluationTest {
    @ParameterizedTest
    @ValueSource(strings = {"razor", "snapkv"})
    void divergenceEqualsTheTokenByTokenDefinition(String name) {
        try (LoadedModel loaded = LoadedModel.open(DefaultModel.path());
                Parallel p = new Parallel(2)) {
            Transformer m = loaded.model();
            var c = m.config();
            KvPolicy policy = name.equals("razor")
                    ? KvPolicy.razor(
                            HeadSelection.random(c.blockCount(), c.kvHeadCount(), 2, 3, null),
                            new WindowParams(2, 8, Integer.MAX_VALUE))
                    : KvPolicy.snapKV(c.blockCount(), c.kvHeadCount(), 12, 4);
            int[] tokens = loaded.tokenizer().encode(Evaluation.passkeyPrompt("K7Q2", 400, 0.3, 5), true, true);
            int from = tokens.length / 2;
            Evaluation.Divergence d = Evaluation.divergence(m, tokens, from, policy, p);

            KvCache full = m.newCache(tokens.length, KvPrecision.F16),
                    other = m.newCache(tokens.length, KvPrecision.F16, policy);
            double kl = 0;
            int agree = 0;
            for (int i = 0; i < tokens.length; i++) {
                float[] a = m.forward(full, tokens, i, 1, p), b = m.forward(other, tokens, i, 1, p);
                if (i == from - 1) other.compressNow();
                if (i < from) continue;
                kl += Evaluation.kl(a, b);
                if (Ops.argmax(a) == Ops.argmax(b)) agree++;
            }
            int n = tokens.length - from;
            assertThat(d.kl()).isEqualTo(kl / n);
            assertThat(d.top1Agreement()).isEqualTo(agree / (double) n);
            assertThat(d.kl()).as("the policy does lose something").isPositive();
        }
    }
}
