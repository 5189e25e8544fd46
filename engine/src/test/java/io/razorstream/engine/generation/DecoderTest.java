package io.razorstream.engine.generation;

import io.razorstream.engine.DefaultModel;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The one generation loop's rules, on the embedded stories260K model. */
class DecoderTest {
    static LoadedModel model;
    static Parallel parallel;
    static Decoder decoder;
    static int[] prompt;

    @BeforeAll
    static void open() {
        model = LoadedModel.open(DefaultModel.path());
        parallel = new Parallel(2);
        decoder = model.decoder(parallel);
        prompt = model.tokenizer().encode("Once upon a time", true, true);
    }

    @AfterAll
    static void close() {
        parallel.close();
        model.close();
    }

    private record Run(Decoder.Reply reply, List<String> pieces, List<Integer> tokens, KvCache cache) {
        String streamed() {
            return String.join("", pieces);
        }
    }

    private static Run run(Decoder.Request request, int limit) {
        KvCache cache = model.model().newCache(prompt.length + 200, KvPrecision.F16);
        float[] logits = decoder.prefill(cache, prompt);
        List<String> pieces = new ArrayList<>();
        List<Integer> tokens = new ArrayList<>();
        Decoder.Reply r = decoder.generate(cache, limit, logits, request, (t, s) -> {
            tokens.add(t);
            pieces.add(s);
        });
        return new Run(r, pieces, tokens, cache);
    }

    @Test
    void theBudgetEndsWithTheLastTokenPendingAndEveryOtherOneFed() {
        Run r = run(Decoder.Request.of(SamplerConfig.GREEDY, 12), 1000);
        assertThat(r.reply().finish()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.reply().tokens()).hasSize(12);
        assertThat(r.reply().pendingToken()).isEqualTo(r.reply().tokens()[11]);
        assertThat(r.cache().size()).isEqualTo(prompt.length + 11);
        assertThat(r.streamed()).isEqualTo(r.reply().text()).isNotEmpty();
        assertThat(r.pieces()).allSatisfy(p -> assertThat(p).isNotEmpty());
    }

    @Test
    void theLimitEndsTheReplyAsContextFull() {
        Run r = run(Decoder.Request.of(SamplerConfig.GREEDY, 100), prompt.length + 5);
        assertThat(r.reply().finish()).isEqualTo(FinishReason.CONTEXT_FULL);
        assertThat(r.cache().size()).isEqualTo(prompt.length + 4); // the pending token takes the last position
        assertThat(r.reply().tokens()).hasSize(5);
        assertThat(r.reply().hasPending()).isTrue();
    }

    @Test
    void aStopStringEndsTheReplyBeforeItAndNoPartOfItIsStreamed() {
        String free =
                run(Decoder.Request.of(SamplerConfig.GREEDY, 40), 1000).reply().text();
        // a stop string that starts inside one token's text and ends in a later one's
        int at = free.indexOf(' ', 10);
        String stop = free.substring(at, Math.min(free.length(), at + 6));
        Run r = run(Decoder.Request.of(SamplerConfig.GREEDY, 40).withStop(List.of("never appears", stop)), 1000);
        assertThat(r.reply().finish()).isEqualTo(FinishReason.STOP);
        assertThat(r.reply().text()).isEqualTo(free.substring(0, free.indexOf(stop)));
        assertThat(r.streamed()).isEqualTo(r.reply().text());
        assertThat(r.reply().hasPending()).isTrue();
        assertThat(r.cache().size()).isEqualTo(prompt.length + r.reply().tokens().length - 1);
    }

    @Test
    void textThatOnlyLooksLikeTheStartOfAStopStringIsStreamedInTheEnd() {
        String free =
                run(Decoder.Request.of(SamplerConfig.GREEDY, 30), 1000).reply().text();
        String stop =
                free.substring(free.length() - 3) + "\u0007"; // the reply's last characters, then one it never has
        Run r = run(Decoder.Request.of(SamplerConfig.GREEDY, 30).withStop(List.of(stop)), 1000);
        assertThat(r.reply().finish()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.streamed()).isEqualTo(free);
        // held back until the reply ended, then handed over without a token
        assertThat(r.tokens().get(r.tokens().size() - 1)).isEqualTo(-1);
        assertThat(r.pieces().get(r.pieces().size() - 1)).endsWith(free.substring(free.length() - 3));
    }

    @Test
    void theRepetitionPenaltySeesTheHistory() {
        SamplerConfig penalised = new SamplerConfig(0f, 0, 1f, 0f, 5f, 64, 1);
        int[] plain = run(Decoder.Request.of(penalised, 1), 1000).reply().tokens();
        int[] withHistory = run(Decoder.Request.of(penalised, 1).withHistory(plain), 1000)
                .reply()
                .tokens();
        assertThat(withHistory[0])
                .as("the greedy pick is penalised once it is in the history")
                .isNotEqualTo(plain[0]);
    }

    @Test
    void endOfGenerationIsNeitherShownNorFedUnlessIgnored() {
        int eos = model.tokenizer().vocabulary().eos();
        KvCache cache = model.model().newCache(prompt.length + 50, KvPrecision.F16);
        float[] logits = decoder.prefill(cache, prompt).clone();
        logits[eos] = 1e9f; // the model "ends" at once
        int before = cache.size();
        Decoder.Reply r = decoder.generate(cache, 1000, logits, Decoder.Request.of(SamplerConfig.GREEDY, 5), null);
        assertThat(r.finish()).isEqualTo(FinishReason.END_OF_GENERATION);
        assertThat(r.tokens()).isEmpty();
        assertThat(r.hasPending()).isFalse();
        assertThat(cache.size()).isEqualTo(before);
        Decoder.Reply ignored = decoder.generate(
                cache, 1000, logits, Decoder.Request.of(SamplerConfig.GREEDY, 3).ignoringEndOfGeneration(), null);
        assertThat(ignored.tokens()).hasSize(3).startsWith(eos);
        assertThat(ignored.finish()).isEqualTo(FinishReason.LENGTH);
    }
}
