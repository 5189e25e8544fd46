package io.razorstream.engine.chat;

import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.generation.FinishReason;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufWriter;
import io.razorstream.engine.tokenizer.BpeVocabularyWriter;
import io.razorstream.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A session grows turn by turn on its cache; with the model's own template each turn adds what rendering the whole
 * conversation adds: for random conversations, the tokens the turns add (with the replies' tokens as generated) equal
 * the tokens of the whole rendering, token for token, on real templates over byte-level BPE vocabularies with the
 * families' control tokens.
 */
class ModelChatTemplateTest {
    private static final String[] WORDS = {
        "the", "sea", "is", "blue", "and", "deep", "fish", "swim", "in", "it", "42", "ünï", "海", "what", "why", "ok"
    };

    @TempDir
    static Path dir;

    private static Tokenizer qwen, llama3;

    /** Byte-level BPE vocabularies with the families' control tokens (as random-model writes them). */
    @BeforeAll
    static void vocabularies() throws IOException {
        qwen = vocabulary("qwen2", 151936, BpeVocabularyWriter.QWEN_SPECIALS);
        llama3 = vocabulary("llama-bpe", 128256, BpeVocabularyWriter.LLAMA3_SPECIALS);
    }

    private static Tokenizer vocabulary(String pre, int size, BpeVocabularyWriter.Specials specials)
            throws IOException {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        BpeVocabularyWriter.write(w, pre, size, specials);
        Path file = dir.resolve(pre + ".gguf");
        w.write(file);
        return Tokenizer.from(GgufFile.open(file));
    }

    @ParameterizedTest(name = "{1} on {0}")
    @CsvSource({
        "qwen, Qwen-Qwen2.5-7B-Instruct.jinja",
        "qwen, Qwen-Qwen3-0.6B.jinja",
        "qwen, HuggingFaceTB-SmolLM2-135M-Instruct.jinja",
        "llama3, meta-llama-Llama-3.1-8B-Instruct.jinja",
        "llama3, meta-llama-Llama-3.2-3B-Instruct.jinja",
    })
    void incrementalTurnsEqualTheWholeRenderingTokenForToken(String vocabulary, String templateFile)
            throws IOException {
        Tokenizer tok = vocabulary.equals("qwen") ? qwen : llama3;
        var v = tok.vocabulary();
        ModelChatTemplate t = new ModelChatTemplate(
                resource(templateFile), v.bos() >= 0 ? v.text(v.bos()) : null, v.text(v.eos()), Map.of());
        boolean systemRole = !templateFile.contains("gemma-2"); // Gemma 2's template refuses a system message
        for (int seed = 0; seed < 25; seed++) {
            SplittableRandom r = new SplittableRandom(seed);
            ConversationState state = new ConversationState();
            List<Integer> cache = new ArrayList<>();
            List<Message> all = new ArrayList<>();
            if (systemRole && r.nextBoolean()) {
                Message system = Message.system(words(r));
                cache.addAll(boxed(state.turnTokens(tok, t, cache.size(), system, false)));
                state.prefilled(t, system);
                all.add(system);
            }
            int turns = 1 + r.nextInt(4);
            for (int i = 0; i < turns; i++) {
                Message user = Message.user(words(r));
                cache.addAll(boxed(state.turnTokens(tok, t, cache.size(), user, true)));
                state.prefilled(t, user);
                all.add(user);
                if (i == turns - 1) break; // the last turn waits for its reply
                String reply = words(r);
                int[] generated = tok.encode(reply, false, false);
                cache.addAll(boxed(generated));
                state.replied(t, tok, new Decoder.Reply(generated, reply, FinishReason.END_OF_GENERATION, -1, 0));
                all.add(Message.assistant(reply));
            }
            String whole = t.render(all, true, null);
            int[] expected = tok.encode(whole, false, true);
            if (v.addBos() && (expected.length == 0 || expected[0] != v.bos())) {
                int[] withBos = new int[expected.length + 1];
                withBos[0] = v.bos();
                System.arraycopy(expected, 0, withBos, 1, expected.length);
                expected = withBos;
            }
            assertThat(cache).as("seed %d: %s", seed, whole).containsExactlyElementsOf(boxed(expected));
        }
    }

    @Test
    void aTemplateThatDropsPastReasoningAddsOnlyTheNewTurn() throws IOException {
        ModelChatTemplate qwen3 =
                new ModelChatTemplate(resource("Qwen-Qwen3-0.6B.jinja"), null, "<|im_end|>", Map.of());
        Message q1 = Message.user("Is 7 prime?"), q2 = Message.user("And 9?");
        String reply = "<think>\n7 has no divisors but 1 and 7.\n</think>\n\nYes.";
        // the cache holds the first turn and the reply with its reasoning, as generated
        String cached = qwen3.render(List.of(q1), true, null) + reply;
        // the whole rendering drops that reasoning, so it is not a continuation of the cache
        String whole = qwen3.render(List.of(q1, Message.assistant(reply), q2), true, null);
        assertThat(whole).doesNotContain("divisors").doesNotStartWith(cached);
        assertThat(ModelChatTemplate.added(cached, whole))
                .isEqualTo("<|im_end|>\n<|im_start|>user\nAnd 9?<|im_end|>\n<|im_start|>assistant\n");
    }

    @Test
    void aTemplateThatMovesTheSystemPromptAddsItWhereItNowStands() throws IOException {
        ModelChatTemplate nemo =
                new ModelChatTemplate(resource("mistralai-Mistral-Nemo-Instruct-2407.jinja"), "<s>", "</s>", Map.of());
        List<Message> first = List.of(Message.system("Be brief."), Message.user("Hi"));
        String cached = nemo.render(first, true, null) + "Hello.";
        List<Message> second = new ArrayList<>(first);
        second.add(Message.assistant("Hello."));
        second.add(Message.user("Bye"));
        String whole = nemo.render(second, true, null);
        // Nemo puts the system prompt in the last user message: the new turn carries it again, nothing is repeated
        assertThat(ModelChatTemplate.added(cached, whole)).isEqualTo("</s>[INST]Be brief.\n\nBye[/INST]");
    }

    @Test
    void theMessageContentNeverBecomesControlTokens() throws IOException {
        Tokenizer tok = qwen;
        ModelChatTemplate t =
                new ModelChatTemplate(resource("Qwen-Qwen2.5-7B-Instruct.jinja"), null, "<|im_end|>", Map.of());
        int imEnd = tok.encode("<|im_end|>", false, true)[0];
        int[] tokens = new ConversationState().turnTokens(tok, t, 0, Message.user("a<|im_end|>b"), true);
        // the template's markup has its <|im_end|> tokens (system block, user turn); the user's text does not add one
        long markup = Arrays.stream(tok.encode(t.render(List.of(Message.user("ab")), true, null), false, true))
                .filter(x -> x == imEnd)
                .count();
        assertThat(Arrays.stream(tokens).filter(x -> x == imEnd).count()).isEqualTo(markup);
    }

    /** Raw text (a prompt the client rendered, /v1/completions) goes in as it is, and the template never sees it. */
    @Test
    void rawTextGoesInAsItIsOutsideTheTemplatesView() throws IOException {
        ModelChatTemplate t =
                new ModelChatTemplate(resource("Qwen-Qwen2.5-7B-Instruct.jinja"), null, "<|im_end|>", Map.of());
        ConversationState state = new ConversationState();
        Message raw = Message.raw("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
        assertThat(state.turnTokens(qwen, t, 0, raw, true)).containsExactly(qwen.encode(raw.content(), false, true));
        state.prefilled(t, raw);
        int[] reply = qwen.encode("hello", false, false);
        state.replied(t, qwen, new Decoder.Reply(reply, "hello", FinishReason.END_OF_GENERATION, -1, 0));
        assertThat(state.history()).isEmpty();
        assertThat(state.afterReply()).as("the client closes its own rendering").isFalse();
        assertThat(state.template()).isEqualTo(ModelChatTemplate.LABEL);
    }

    @Test
    void aTemplateRefusingTheConversationRefusesTheTurnWithItsWords() throws IOException {
        ModelChatTemplate gemma2 =
                new ModelChatTemplate(resource("google-gemma-2-2b-it.jinja"), "<bos>", "<eos>", Map.of());
        assertThatThrownBy(() -> gemma2.turnSegments(new ConversationState(), Message.system("Be brief."), false))
                .isInstanceOf(TurnRefused.class)
                .hasMessageContaining("System role not supported");
    }

    private static String words(SplittableRandom r) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0, n = 1 + r.nextInt(8); i < n; i++)
            sb.append(i > 0 ? " " : "").append(WORDS[r.nextInt(WORDS.length)]);
        return sb.toString();
    }

    private static List<Integer> boxed(int[] a) {
        return Arrays.stream(a).boxed().toList();
    }

    static String resource(String name) throws IOException {
        try (InputStream in = ModelChatTemplateTest.class.getResourceAsStream("/chat-templates/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
