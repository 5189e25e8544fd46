package io.razorstream.engine.synth;

import io.razorstream.engine.Generator;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowHead;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.Conversation;
import io.razorstream.engine.chat.ConversationState;
import io.razorstream.engine.chat.Message;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Ops;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.Transformer;
import io.razorstream.engine.profile.HeadProfile;
import io.razorstream.engine.profile.HeadProfiler;
import io.razorstream.engine.sampling.SamplerConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The constructed model: it retrieves, the profiler finds its retrieval heads, and Razor keeps them. */
class SynthModelTest {
    @TempDir
    static Path dir;

    static LoadedModel model;
    static Parallel parallel;
    static HeadProfile profile;
    static final String KEY = "K7Q2";

    @BeforeAll
    static void build() throws IOException {
        Path file = dir.resolve("synth.gguf");
        SynthModel.write(file, GgmlType.F32);
        model = LoadedModel.open(file);
        parallel = new Parallel(2);
        profile = HeadProfiler.profile(
                model.model(),
                model.tokenizer().vocabulary(),
                model.gguf().fingerprint(),
                new HeadProfiler.Options(2, 0.14, 0.01, 200),
                parallel,
                null);
    }

    @AfterAll
    static void close() {
        parallel.close();
        model.close();
    }

    /**
     * Filler text of about {@code length} characters with "#KEY" planted at {@code depth} (0..1), then the question.
     */
    static String passkeyPrompt(int length, double depth) {
        Random r = new Random(length + (long) (depth * 1000));
        String words = "the quick brown fox jumps over a lazy dog and runs far away ";
        StringBuilder filler = new StringBuilder();
        while (filler.length() < length) filler.append(words, 0, 1 + r.nextInt(words.length() - 1));
        int at = (int) (depth * (filler.length() - 1));
        return filler.substring(0, at) + " The code is #" + KEY + ". " + filler.substring(at) + " Remember the code #";
    }

    record Answer(String text, long bytes, long fullBytes) {}

    static Answer answer(KvPolicy policy, String prompt) {
        return answer(policy, prompt, KvPrecision.F16);
    }

    static Answer answer(KvPolicy policy, String prompt, KvPrecision precision) {
        Transformer m = model.model();
        int[] tokens = model.tokenizer().encode(prompt, true, true);
        KvCache cache = m.newCache(tokens.length + KEY.length(), precision, policy);
        float[] logits = null;
        for (int from = 0; from < tokens.length; from += 96)
            logits = m.forward(cache, tokens, from, Math.min(96, tokens.length - from), parallel);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < KEY.length(); i++) {
            int t = Ops.argmax(logits);
            out.append(new String(model.tokenizer().piece(t)));
            logits = m.forward(cache, new int[] {t}, 0, 1, parallel);
        }
        return new Answer(out.toString(), cache.bytesInUse(), cache.fullBytes());
    }

    @Test
    void continuesWhatFollowedAnEarlierOccurrence() {
        Generator.Result r =
                new Generator(model, parallel).generate(passkeyPrompt(800, 0.3), 4, SamplerConfig.GREEDY, null);
        assertThat(r.text()).isEqualTo(KEY);
    }

    @Test
    void theProfilerRanksTheConstructedHeads() {
        double[][] induction = profile.score("kvInduction"), echo = profile.score("kvEcho");
        int[] ind = SynthModel.INDUCTION, ech = SynthModel.ECHO;
        for (int l = 0; l < SynthModel.LAYERS; l++) {
            for (int h = 0; h < SynthModel.HEADS; h++) {
                if (l != ind[0] || h != ind[1]) assertThat(induction[l][h]).isLessThan(induction[ind[0]][ind[1]]);
                if (l != ech[0] || h != ech[1]) assertThat(echo[l][h]).isLessThan(echo[ech[0]][ech[1]]);
            }
        }
        assertThat(induction[ind[0]][ind[1]]).isGreaterThan(0.9);
        for (int[] local : SynthModel.LOCAL) {
            assertThat(induction[local[0]][local[1]]).isLessThan(0.01);
            assertThat(echo[local[0]][local[1]]).isLessThan(0.01);
        }
        assertThat(profile.retrieval()[ind[0]][ind[1]]).isTrue();
        assertThat(profile.retrieval()[ech[0]][ech[1]]).isTrue();
        assertThat(profile.retrievalCount())
                .isEqualTo(2); // ceil(0.14 x 8) = 2 by induction; the echo head is among them or added
    }

    /**
     * A key planted in a conversation that then outgrows its 2048 positions and shifts (issue 14): after the shift the
     * former retrieval heads are windows of the positions that remain, so a key is expected to be found exactly when it
     * is still inside that range when the question comes. Asserted for the keys inside it; the keys that fell out are
     * reported (docs/FIDELITY.md, "Passkeys across a context shift").
     */
    @Test
    void passkeysAcrossAContextShift() {
        int limit = 2048;
        WindowParams window = new WindowParams(4, 64, 1_000_000);
        int inside = 0;
        StringBuilder report = new StringBuilder("depth | key position | kept from | shifts | answer\n");
        for (double depth : new double[] {0.02, 0.2, 0.4, 0.6, 0.8, 0.95}) {
            KvCache cache = model.model().newCache(limit, KvPrecision.F16, profile.policy(window));
            var decoder = model.decoder(parallel);
            var chat = new Conversation(
                    decoder, ChatTemplate.PLAIN, cache, new ConversationState(), limit, Conversation.Overflow.SHIFT, 0);
            String prompt = passkeyPrompt(1500, depth);
            String document = prompt.substring(0, prompt.length() - " Remember the code #".length());
            long keyAt =
                    1 + document.indexOf("#" + KEY) + 1; // BOS, then one token per character: the key's first character
            chat.add(Message.user(document));
            Random r = new Random(3);
            while (cache.shifts() == 0) chat.add(Message.user(filler(r, 400)));
            var turn = chat.turn(
                    Message.user(" Remember the code #"),
                    true,
                    Decoder.Request.of(SamplerConfig.GREEDY, KEY.length()),
                    null);
            // The former retrieval head's window after the question: the tokens still kept there.
            WindowHead formerFull = (WindowHead) cache.compressed(SynthModel.INDUCTION[0], SynthModel.INDUCTION[1]);
            long keptFrom = formerFull.tokens() - formerFull.windowCount();
            String answer = turn.reply().text();
            report.append(String.format(
                    Locale.ROOT, "%.2f | %d | %d | %d | %s%n", depth, keyAt, keptFrom, cache.shifts(), answer));
            if (keyAt >= keptFrom) {
                inside++;
                assertThat(answer)
                        .as("a key still inside the kept range, depth %s", depth)
                        .isEqualTo(KEY);
            }
        }
        System.out.println("passkeys across a context shift (limit " + limit + "):\n" + report);
        assertThat(inside)
                .as("some keys stay inside the kept range")
                .isGreaterThan(0)
                .isLessThan(6);
    }

    private static String filler(Random r, int length) {
        String words = "the quick brown fox jumps over a lazy dog and runs far away ";
        StringBuilder filler = new StringBuilder();
        while (filler.length() < length) filler.append(words, 0, 1 + r.nextInt(words.length() - 1));
        return filler.toString();
    }

    @Test
    void passkeyAt4kTokens() {
        WindowParams window = new WindowParams(4, 64, 1_000_000);
        for (double depth : new double[] {0.0, 0.5}) {
            String prompt = passkeyPrompt(4000, depth);
            Answer full = answer(KvPolicy.full(SynthModel.LAYERS, SynthModel.HEADS), prompt);
            Answer razor = answer(profile.policy(window), prompt);
            assertThat(full.text()).as("full cache, depth %s", depth).isEqualTo(KEY);
            assertThat(razor.text()).as("razor, depth %s", depth).isEqualTo(KEY);
            assertThat(razor.fullBytes() / (double) razor.bytes())
                    .as("razor compression")
                    .isGreaterThanOrEqualTo(3.0);

            // StreamingLLM at (at least) Razor's byte budget: every head windowed, no compensation token.
            int budgetWindow =
                    (int) (razor.bytes() / (SynthModel.LAYERS * SynthModel.HEADS * (long) SynthModel.HEAD_SIZE * 2 * 2))
                            - 4;
            assertThat(budgetWindow).isLessThan(3000); // the key (near the start or the middle) lies outside it
            Answer streaming =
                    answer(KvPolicy.razor(new boolean[2][4], new WindowParams(4, budgetWindow, 1_000_000)), prompt);
            assertThat(streaming.text()).as("streaming, depth %s", depth).isNotEqualTo(KEY);

            // Razor with the wrong heads kept (a local head of each layer instead of the profiled ones) fails.
            boolean[][] wrong = new boolean[2][4];
            wrong[0][2] = true;
            wrong[1][2] = true;
            assertThat(answer(KvPolicy.razor(wrong, window), prompt).text())
                    .as("random heads, depth %s", depth)
                    .isNotEqualTo(KEY);
        }
    }

    @Test
    void int8CacheRetrievesTooWithFewerBytes() {
        WindowParams window = new WindowParams(4, 64, 1_000_000);
        String prompt = passkeyPrompt(4000, 0.25);
        Answer f16 = answer(profile.policy(window), prompt, KvPrecision.F16);
        Answer q8 = answer(profile.policy(window), prompt, KvPrecision.Q8);
        assertThat(q8.text()).isEqualTo(KEY);
        // One int8 per element plus one fp32 scale per vector, against two bytes per element.
        assertThat((double) q8.bytes()).isLessThan(0.6 * f16.bytes());
        assertThat(q8.fullBytes())
                .isEqualTo(f16.fullBytes() / (2L * SynthModel.HEAD_SIZE) * (SynthModel.HEAD_SIZE + 4));
    }

    @Test
    void inductionHeadsAloneLeaveTheEchoHeadOut() {
        // One head by induction and one by echo: the chosen set is both, the induction set only the first.
        HeadProfile p = HeadProfiler.profile(
                model.model(),
                model.tokenizer().vocabulary(),
                model.gguf().fingerprint(),
                new HeadProfiler.Options(2, 0.1, 0.1, 200),
                parallel,
                null);
        boolean[][] induction = p.inductionHeads();
        for (int l = 0; l < SynthModel.LAYERS; l++) {
            for (int h = 0; h < SynthModel.HEADS; h++) {
                assertThat(induction[l][h])
                        .as("(%d, %d)", l, h)
                        .isEqualTo(l == SynthModel.INDUCTION[0] && h == SynthModel.INDUCTION[1]);
            }
        }
        assertThat(p.toJson()).contains("\"inductionHeads\": [{\"layer\": 1, \"kvHead\": 0}],");
    }
}
