package io.razorstream.engine.fidelity;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.SharedModels;
import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.PolicyNames;
import io.razorstream.engine.attention.SpanProfile;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.eval.Evaluation;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.ModelConfig;
import io.razorstream.engine.profile.CompensationCalibration;
import io.razorstream.engine.profile.HeadProfile;
import io.razorstream.engine.profile.HeadProfiler;
import io.razorstream.engine.profile.ProfileMethod;
import io.razorstream.engine.profile.Profiling;
import io.razorstream.engine.profile.SpanMeasurement;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * ../shared/models/trained-retrieval.gguf learned one retrieval head (layer 3, KV head 1) in training. On it, at ~1,400
 * tokens and a 64-token window: the default Razor policy keeps every passkey the full cache keeps with >= 3x fewer
 * bytes, and its KL is below StreamingLLM's at the same budget, which loses passkeys; the paper's compensation token on
 * every window head breaks retrieval (docs/FIDELITY.md). Every profile method finds the learned head, and masking it
 * breaks every passkey where masking as many random heads keeps them.
 */
class TrainedRetrievalTest {
    static final int[] LEARNED = {3, 1};
    static final int CHARS = 2000; // ~1,400 tokens
    static final int MASK_CHARS = 1000; // ~730 tokens
    static final int[] DEPTHS = {0, 25, 50, 75, 100};

    static LoadedModel model;
    static Parallel parallel;
    static HeadProfile razor;

    @BeforeAll
    static void open() {
        model = LoadedModel.open(SharedModels.require("trained-retrieval.gguf"));
        parallel = new Parallel(2);
        razor = Profiling.make(
                model,
                ProfileMethod.RAZOR,
                new HeadProfiler.Options(3, 0.14, 0.01, 511),
                CompensationCalibration.Options.DEFAULT,
                parallel,
                null);
    }

    @AfterAll
    static void close() {
        if (parallel != null) parallel.close();
        if (model != null) model.close();
    }

    record Measured(int passkeys, double kl, long bytes, long fullBytes) {}

    static Measured measure(String name, boolean[][] retrieval, boolean[][] compensated) {
        return measure(name, retrieval, compensated, null);
    }

    static Measured measure(String name, boolean[][] retrieval, boolean[][] compensated, SpanProfile spans) {
        ModelConfig c = model.model().config();
        WindowParams window = new WindowParams(4, 64, Integer.MAX_VALUE);
        int passkeys = 0;
        for (int di = 0; di < DEPTHS.length; di++) {
            String key = Evaluation.randomKey(31L * CHARS + di);
            String context = Evaluation.passkeyContext(key, CHARS, DEPTHS[di] / 100.0, CHARS + di);
            int tokens = model.tokenizer().encode(context + Evaluation.QUESTION, true, true).length;
            KvPolicy policy = PolicyNames.parse(
                    name,
                    new PolicyNames.Context(
                            c.blockCount(), c.kvHeadCount(), retrieval, null, compensated, spans, window, tokens));
            if (Evaluation.passkey(model, policy, key, context, parallel).correct()) passkeys++;
        }
        int[] text = model.tokenizer()
                .encode(Evaluation.passkeyPrompt(Evaluation.randomKey(CHARS), CHARS, 0.5, 7), true, true);
        KvPolicy policy = PolicyNames.parse(
                name,
                new PolicyNames.Context(
                        c.blockCount(), c.kvHeadCount(), retrieval, null, compensated, spans, window, text.length));
        Evaluation.Divergence d = Evaluation.divergence(model.model(), text, text.length / 2, policy, parallel);
        return new Measured(passkeys, d.kl(), d.kvBytes(), d.fullKvBytes());
    }

    @Test
    void theDefaultRazorPolicyKeepsThePasskeysWithAThirdOfTheBytesAndBeatsStreamingLlm() {
        assertThat(razor.retrieval()[LEARNED[0]][LEARNED[1]]).isTrue();
        Measured full = measure("full", razor.retrieval(), razor.compensated());
        Measured razorDefault = measure("razor", razor.retrieval(), razor.compensated());
        Measured streaming = measure("streaming", razor.retrieval(), razor.compensated());
        Measured paper = measure("razor-paper", razor.retrieval(), razor.compensated());
        System.out.printf(
                "trained-retrieval, %d chars: full %s%n razor %s%n streaming "
                        + "%s%n razor-paper %s%n compensated %d heads%n",
                CHARS, full, razorDefault, streaming, paper, HeadSelection.marked(razor.compensated()));
        assertThat(full.passkeys()).isEqualTo(DEPTHS.length);
        assertThat(razorDefault.passkeys()).isEqualTo(full.passkeys());
        assertThat((double) razorDefault.fullBytes() / razorDefault.bytes()).isGreaterThanOrEqualTo(3.0);
        assertThat(streaming.bytes()).isLessThanOrEqualTo(razorDefault.bytes());
        assertThat(razorDefault.kl()).isLessThan(streaming.kl());
        assertThat(streaming.passkeys()).isLessThan(full.passkeys());
        // The calibration leaves the token off the first layer's broad heads, where the paper's formula does the
        // damage.
        assertThat(razor.compensated()[0]).containsOnly(false);
        assertThat(paper.kl()).isGreaterThan(10 * razorDefault.kl());
    }

    @Test
    void moaWindowsProfiledByTheirLossKeepThePasskeysWithinRazorsEntries() {
        var spans = SpanMeasurement.measure(model, 1, 4, 16, parallel);
        Measured razorDefault = measure("razor", razor.retrieval(), razor.compensated());
        Measured moa = measure("moa", razor.retrieval(), razor.compensated(), spans);
        System.out.printf("moa %s%n", moa);
        assertThat(moa.bytes()).isLessThanOrEqualTo(razorDefault.bytes());
        assertThat(moa.passkeys()).isEqualTo(DEPTHS.length);
        // Windowing the learned head costs the most loss: its span is the whole cache.
        assertThat(spans.lost()[LEARNED[0]][LEARNED[1]][SpanProfile.COMPRESSIONS.length - 1])
                .isGreaterThan(spans.lost()[1][0][SpanProfile.COMPRESSIONS.length - 1]);
    }

    /**
     * Each method, asked for one head (ratio 0.1 of 8), names the learned one. Masking it loses every passkey at ~730
     * tokens; masking as many random heads (one) keeps them all. Why one: two of this model's eight heads are a quarter
     * of its attention, and masking random pairs loses passkeys in most draws (docs/FIDELITY.md), while no single head
     * but the learned one loses any.
     */
    @ParameterizedTest
    @EnumSource(ProfileMethod.class)
    void everyMethodFindsTheLearnedHeadAndMaskingItBreaksPasskeys(ProfileMethod method) {
        HeadProfile p = Profiling.make(model, method, new HeadProfiler.Options(1, 0.1, 0, 0), null, parallel, null);
        System.out.printf(
                "%s: %d retrieval heads, scores %s%n",
                method.label(), p.retrievalCount(), p.scores().keySet());
        boolean[][] chosen = p.retrieval();
        assertThat(HeadSelection.marked(chosen)).isEqualTo(1);
        assertThat(chosen[LEARNED[0]][LEARNED[1]])
                .as("%s finds the learned head", method.label())
                .isTrue();
        ModelConfig c = model.model().config();
        boolean[][] random =
                HeadSelection.random(c.blockCount(), c.kvHeadCount(), HeadSelection.marked(chosen), 13, chosen);
        int maskedChosen = maskedPasskeys(chosen, MASK_CHARS), maskedRandom = maskedPasskeys(random, MASK_CHARS);
        System.out.printf(
                "%s: passkeys with its head masked %d, with a random head masked %d, of %d%n",
                method.label(), maskedChosen, maskedRandom, DEPTHS.length);
        assertThat(maskedChosen).isZero();
        assertThat(maskedRandom).isEqualTo(DEPTHS.length);
    }

    @Test
    void noOtherSingleHeadMaskedLosesAPasskey() {
        ModelConfig c = model.model().config();
        for (int l = 0; l < c.blockCount(); l++) {
            for (int k = 0; k < c.kvHeadCount(); k++) {
                if (l == LEARNED[0] && k == LEARNED[1]) continue;
                boolean[][] one = new boolean[c.blockCount()][c.kvHeadCount()];
                one[l][k] = true;
                assertThat(maskedPasskeys(one, MASK_CHARS))
                        .as("head (%d, %d) masked", l, k)
                        .isEqualTo(DEPTHS.length);
            }
        }
    }

    static int maskedPasskeys(boolean[][] masked, int chars) {
        ModelConfig c = model.model().config();
        KvPolicy policy = KvPolicy.full(c.blockCount(), c.kvHeadCount()).withMasked(masked);
        int ok = 0;
        for (int di = 0; di < DEPTHS.length; di++) {
            String key = Evaluation.randomKey(31L * chars + di);
            if (Evaluation.passkey(
                            model,
                            policy,
                            key,
                            Evaluation.passkeyContext(key, chars, DEPTHS[di] / 100.0, chars + di),
                            parallel)
                    .correct()) ok++;
        }
        return ok;
    }
}
