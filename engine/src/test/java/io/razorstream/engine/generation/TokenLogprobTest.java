package io.razorstream.engine.generation;

import io.razorstream.engine.DefaultModel;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** Log probabilities are the logits' log-softmax; the top tokens are the most likely, in order. */
class TokenLogprobTest {
    @Test
    void logSoftmaxAndTheTopTokens() {
        SplittableRandom r = new SplittableRandom(5);
        float[] logits = new float[1000];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) (r.nextGaussian() * 3);
        TokenLogprob lp = TokenLogprob.of(logits, 17, 5);
        double z = 0;
        for (float l : logits) z += Math.exp(l);
        assertThat((double) lp.logprob()).isCloseTo(logits[17] - Math.log(z), within(1e-4));
        float[] sorted = logits.clone();
        java.util.Arrays.sort(sorted);
        for (int i = 0; i < 5; i++) {
            assertThat(logits[lp.top()[i]]).isEqualTo(sorted[sorted.length - 1 - i]);
            assertThat((double) lp.topLogprobs()[i]).isCloseTo(logits[lp.top()[i]] - Math.log(z), within(1e-4));
        }
        assertThat(TokenLogprob.of(logits, 3, 0).top()).isEmpty();
    }

    @Test
    void aGreedyReplyReportsOneEntryPerTokenEachItsStepsMostLikely() {
        try (LoadedModel m = LoadedModel.open(DefaultModel.path());
                Parallel p = new Parallel(1)) {
            Decoder d = m.decoder(p);
            var cache = m.model().newCache(64, KvPrecision.F16);
            float[] logits = d.prefill(cache, m.tokenizer().encode("Once upon a time", true, true));
            Decoder.Reply reply = d.generate(
                    cache,
                    64,
                    logits,
                    Decoder.Request.of(SamplerConfig.GREEDY, 10).withLogprobs(3),
                    null);
            assertThat(reply.logprobs()).hasSize(reply.tokens().length);
            for (int i = 0; i < reply.tokens().length; i++) {
                TokenLogprob lp = reply.logprobs().get(i);
                assertThat(lp.token()).isEqualTo(reply.tokens()[i]);
                assertThat(lp.top()[0]).as("greedy picks the most likely").isEqualTo(lp.token());
                assertThat(lp.logprob()).isEqualTo(lp.topLogprobs()[0]).isLessThanOrEqualTo(0f);
            }
        }
    }
}
