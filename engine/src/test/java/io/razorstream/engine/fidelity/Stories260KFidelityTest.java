package io.razorstream.engine.fidelity;

import io.razorstream.engine.Generator;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.SharedModels;
import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.eval.Evaluation;
import io.razorstream.engine.kernel.Ops;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.Transformer;
import io.razorstream.engine.profile.CompensationCalibration;
import io.razorstream.engine.profile.HeadProfile;
import io.razorstream.engine.profile.HeadProfiler;
import io.razorstream.engine.profile.ProfileMethod;
import io.razorstream.engine.profile.Profiling;
import io.razorstream.engine.sampling.SamplerConfig;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * KL(full || policy) of next-token distributions on stories260K (context 512 as trained), over 480-token texts the
 * model samples itself, window 64: Razor, Razor without the compensation token, StreamingLLM at Razor's byte budget,
 * and Razor with random heads. The figures go to docs/FIDELITY.md. What this test asserts is what held on every text:
 * the compensation token lowers the KL. (Razor does *not* beat StreamingLLM at equal bytes on this model; see
 * docs/FIDELITY.md.)
 */
class Stories260KFidelityTest {
    static final int TEXTS = 3, LENGTH = 480, FROM = 100, LAYERS = 5, KV_HEADS = 4, HEAD_SIZE = 8;

    record Result(double kl, double top1, long bytes) {}

    static float[][] logits(Transformer m, int[] tokens, KvPolicy policy, Parallel p, long[] bytes) {
        return logits(m, tokens, policy, KvPrecision.F32, p, bytes);
    }

    static float[][] logits(
            Transformer m, int[] tokens, KvPolicy policy, KvPrecision precision, Parallel p, long[] bytes) {
        KvCache cache = m.newCache(tokens.length, precision, policy);
        float[][] out = new float[tokens.length][];
        for (int i = 0; i < tokens.length; i++) out[i] = m.forward(cache, tokens, i, 1, p);
        bytes[0] = cache.bytesInUse();
        return out;
    }

    static Result compare(float[][] full, float[][] other, long bytes) {
        double kl = 0;
        int agree = 0;
        for (int i = FROM; i < full.length; i++) {
            kl += Evaluation.kl(full[i], other[i]);
            if (Ops.argmax(full[i]) == Ops.argmax(other[i])) agree++;
        }
        int n = full.length - FROM;
        return new Result(kl / n, agree / (double) n, bytes);
    }

    @Test
    void klAgainstTheFullCache() {
        try (LoadedModel lm = LoadedModel.open(SharedModels.require("stories260K.gguf"));
                Parallel p = new Parallel(2)) {
            Transformer m = lm.model();
            // Calibrated on the model's own text from seed 1000: not the texts measured below (seeds 1-3).
            HeadProfile profile = Profiling.make(
                    lm,
                    ProfileMethod.RAZOR,
                    new HeadProfiler.Options(3, 0.14, 0.01, 127),
                    new CompensationCalibration.Options(480, 64, 4, 0.05, 1000),
                    p,
                    null);
            WindowParams window = new WindowParams(4, 64, 1_000_000);
            System.out.printf(
                    "stories260K, window 64, %d retrieval KV heads of %d; KL over positions %d..%d%n",
                    profile.retrievalCount(), LAYERS * KV_HEADS, FROM, LENGTH - 1);
            System.out.printf(
                    "compensation token on %d of %d window heads%n",
                    HeadSelection.marked(profile.compensated()), LAYERS * KV_HEADS - profile.retrievalCount());
            System.out.println("text | razor KL, top-1 | paper's compensation everywhere | "
                    + "no compensation | streaming (window, bytes) | random heads " + "| razor bytes / full");
            for (int seed = 1; seed <= TEXTS; seed++) {
                Generator.Result g = new Generator(lm, p)
                        .generate(new int[] {1}, LENGTH - 1, new SamplerConfig(1f, 0, 1f, 0f, 1f, 0, seed), null);
                int[] tokens = new int[1 + g.generatedTokens().length];
                tokens[0] = 1;
                System.arraycopy(g.generatedTokens(), 0, tokens, 1, g.generatedTokens().length);
                long[] bytes = new long[1];
                float[][] full = logits(m, tokens, KvPolicy.full(LAYERS, KV_HEADS), p, bytes);
                long fullBytes = bytes[0];
                Result razor = compare(full, logits(m, tokens, profile.policy(window), p, bytes), bytes[0]);
                Result paper = compare(
                        full, logits(m, tokens, KvPolicy.razor(profile.retrieval(), window), p, bytes), bytes[0]);
                Result noComp = compare(
                        full,
                        logits(m, tokens, KvPolicy.razor(profile.retrieval(), window.withoutCompensation()), p, bytes),
                        bytes[0]);
                int streamWindow = (int) (razor.bytes() / ((long) LAYERS * KV_HEADS * HEAD_SIZE * 2 * 4)) - 4;
                Result streaming = compare(
                        full,
                        logits(
                                m,
                                tokens,
                                KvPolicy.razor(
                                        new boolean[LAYERS][KV_HEADS],
                                        new WindowParams(4, streamWindow, 1_000_000).withoutCompensation()),
                                p,
                                bytes),
                        bytes[0]);
                Result random = compare(
                        full,
                        logits(
                                m,
                                tokens,
                                KvPolicy.razor(randomHeads(profile, seed), profile.compensated(), window),
                                p,
                                bytes),
                        bytes[0]);
                Result fullF16 = compare(
                        full, logits(m, tokens, KvPolicy.full(LAYERS, KV_HEADS), KvPrecision.F16, p, bytes), bytes[0]);
                Result fullQ8 = compare(
                        full, logits(m, tokens, KvPolicy.full(LAYERS, KV_HEADS), KvPrecision.Q8, p, bytes), bytes[0]);
                Result razorQ8 =
                        compare(full, logits(m, tokens, profile.policy(window), KvPrecision.Q8, p, bytes), bytes[0]);
                System.out.printf(
                        "%d | %.4f, %.3f | %.4f, %.3f | %.4f, %.3f | %.4f, %.3f (%d, %d) | %.4f, %.3f | %d / %d%n",
                        seed,
                        razor.kl(),
                        razor.top1(),
                        paper.kl(),
                        paper.top1(),
                        noComp.kl(),
                        noComp.top1(),
                        streaming.kl(),
                        streaming.top1(),
                        streamWindow,
                        streaming.bytes(),
                        random.kl(),
                        random.top1(),
                        razor.bytes(),
                        fullBytes);
                System.out.printf(
                        "  precision: full F16 %.5f, %.3f (%d bytes) | full Q8 %.5f, "
                                + "%.3f (%d) | razor Q8 %.4f, %.3f (%d)%n",
                        fullF16.kl(),
                        fullF16.top1(),
                        fullF16.bytes(),
                        fullQ8.kl(),
                        fullQ8.top1(),
                        fullQ8.bytes(),
                        razorQ8.kl(),
                        razorQ8.top1(),
                        razorQ8.bytes());

                assertThat(streaming.bytes()).isLessThanOrEqualTo(razor.bytes());
                // Here the token helps (unlike on trained-retrieval.gguf): the calibrated choice keeps that gain, near
                // the paper's.
                assertThat(razor.kl())
                        .as("compensation token helps, text %d", seed)
                        .isLessThan(noComp.kl());
                assertThat(razor.kl())
                        .as("calibrated vs the paper's everywhere, text %d", seed)
                        .isLessThan(noComp.kl() - 0.5 * (noComp.kl() - paper.kl()));
                assertThat(razor.bytes()).isLessThan(fullBytes / 2);
                // Storage precision: F16 barely moves the distributions; int8 costs far less than the window does.
                assertThat(fullF16.kl()).as("F16 cache, text %d", seed).isLessThan(1e-4);
                assertThat(fullQ8.kl()).as("Q8 cache, text %d", seed).isLessThan(Math.min(0.005, razor.kl() / 10));
            }
        }
    }

    /** As many heads as the profile chose, picked at random among the others. */
    static boolean[][] randomHeads(HeadProfile profile, long seed) {
        Random r = new Random(seed);
        boolean[][] heads = new boolean[LAYERS][KV_HEADS];
        for (int left = profile.retrievalCount(); left > 0; ) {
            int l = r.nextInt(LAYERS), h = r.nextInt(KV_HEADS);
            if (!heads[l][h] && !profile.retrieval()[l][h]) {
                heads[l][h] = true;
                left--;
            }
        }
        return heads;
    }
}
