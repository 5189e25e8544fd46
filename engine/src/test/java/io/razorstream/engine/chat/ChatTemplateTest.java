package io.razorstream.engine.chat;

import io.razorstream.engine.tokenizer.BpeTokenizer;
import io.razorstream.engine.tokenizer.Vocabulary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

class ChatTemplateTest {
    static final List<Message> CONVERSATION = List.of(
            Message.system("Be brief."),
            Message.user("Hi!"),
            Message.assistant("Hello."),
            Message.user("Name a colour."));

    @Test
    void threeTurnConversationsRenderAsEachFamilyExpects() {
        assertThat(ChatTemplate.CHATML.render(CONVERSATION, true))
                .isEqualTo("<|im_start|>system\nBe "
                        + "brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
                        + "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n");
        assertThat(ChatTemplate.LLAMA3.render(CONVERSATION, true))
                .isEqualTo("<|start_header_id|>system<|end_header_id|>\n\nBe "
                        + "brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                        + "<|start_header_id|>assistant<|end_header_id|>\n\n"
                        + "Hello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
                        + "Name a colour.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        assertThat(ChatTemplate.LLAMA2.render(CONVERSATION, true))
                .isEqualTo("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST] "
                        + "Hello. </s><s>[INST] Name a colour. [/INST] ");
        assertThat(ChatTemplate.MISTRAL.render(CONVERSATION, true))
                .isEqualTo(" [INST] Be brief.\n\nHi! [/INST] Hello.</s> [INST] Name a colour. [/INST] ");
        assertThat(ChatTemplate.ZEPHYR.render(CONVERSATION, true))
                .isEqualTo(
                        "<|system|>\nBe " + "brief.</s>\n<|user|>\nHi!</s>\n<|assistant|>\nHello.</s>\n<|user|>\nName "
                                + "a colour.</s>\n<|assistant|>\n");
        assertThat(ChatTemplate.PLAIN.render(CONVERSATION, true)).isEqualTo("Be brief.Hi!Hello.Name a colour.");
    }

    /**
     * Rendering turn by turn (the reply generated, its closing fed with the next turn) gives the whole conversation's
     * text.
     */
    @ParameterizedTest
    @EnumSource(ChatTemplate.class)
    void appendingATurnAddsExactlyWhatTheWholeRenderingAdds(ChatTemplate t) {
        String incremental = t.render(CONVERSATION.subList(0, 2), true) + "Hello."
                + t.append("assistant", true, CONVERSATION.get(3), true);
        assertThat(incremental).isEqualTo(t.render(CONVERSATION, true));
    }

    @Test
    void gemmaNamesTheAssistantModelAndMergesTheSystemMessageIntoTheFirstUserTurn() {
        assertThat(ChatTemplate.GEMMA.render(CONVERSATION, true))
                .isEqualTo("<start_of_turn>user\nBe "
                        + "brief.\n\nHi!<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
                        + "<start_of_turn>user\nName a colour.<end_of_turn>\n<start_of_turn>model\n");
        assertThat(ChatTemplate.GEMMA.render(List.of(Message.user("Hi!")), true))
                .isEqualTo("<start_of_turn>user\nHi!<end_of_turn>\n<start_of_turn>model\n");
    }

    @Test
    void qwen3ThinksByDefaultAndOpensTheReplyWithAnEmptyThinkBlockWhenThinkingIsOff() {
        assertThat(ChatTemplate.QWEN3.render(CONVERSATION, true))
                .isEqualTo(ChatTemplate.CHATML.render(CONVERSATION, true));
        assertThat(ChatTemplate.QWEN3_NO_THINK.render(List.of(Message.user("Hi!")), true))
                .isEqualTo("<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
        assertThat(ChatTemplate.named("qwen3-no-think")).isEqualTo(ChatTemplate.QWEN3_NO_THINK);
        assertThat(ChatTemplate.named("QWEN3_NO_THINK"))
                .isEqualTo(ChatTemplate.QWEN3_NO_THINK); // as older session records store it
    }

    @Test
    void familiesAreDetectedFromTheirMarkers() {
        assertThat(ChatTemplate.detect(
                        "{%- if enable_thinking is defined %}<|im_start|>assistant\n<think>\n\n</think>"))
                .isEqualTo(ChatTemplate.QWEN3);
        assertThat(ChatTemplate.detect("{{ '<|im_start|>' + message['role'] }}"))
                .isEqualTo(ChatTemplate.CHATML);
        assertThat(ChatTemplate.detect("{{ '<start_of_turn>' + role + '\n' }}")).isEqualTo(ChatTemplate.GEMMA);
        assertThat(ChatTemplate.detect("{{'<|user|>' + message['content'] + '<|end|>'}}{{'<|assistant|>'}}"))
                .isEqualTo(ChatTemplate.PHI3);
        assertThat(ChatTemplate.detect("{{ bos_token }}{{ message.content }}")).isEqualTo(ChatTemplate.PLAIN);
    }

    @Test
    void phi3ClosesEveryMessageWithEnd() {
        assertThat(ChatTemplate.PHI3.render(List.of(Message.system("Be brief."), Message.user("Hi!")), true))
                .isEqualTo("<|system|>\nBe brief.<|end|>\n<|user|>\nHi!<|end|>\n<|assistant|>\n");
        assertThat(ChatTemplate.PHI3.append("assistant", true, Message.user("More?"), true))
                .isEqualTo("<|end|>\n<|user|>\nMore?<|end|>\n<|assistant|>\n");
    }

    @Test
    void appendedTurnsTokeniseLikeTheWhole() {
        BpeTokenizer tok = chatmlTokenizer();
        String whole = ChatTemplate.CHATML.render(CONVERSATION, true);
        String first = ChatTemplate.CHATML.render(CONVERSATION.subList(0, 2), true);
        String second = ChatTemplate.CHATML.append("assistant", true, CONVERSATION.get(3), true);
        int[] reply = tok.encode("Hello.", false, false);
        int[] pieces = IntStream.concat(
                        IntStream.concat(IntStream.of(tok.encode(first, false, true)), IntStream.of(reply)),
                        IntStream.of(tok.encode(second, false, true)))
                .toArray();
        assertThat(pieces).containsExactly(tok.encode(whole, false, true));
    }

    @Test
    void aUserTypingControlTokenTextCannotInjectIt() {
        BpeTokenizer tok = chatmlTokenizer();
        int imEnd = tok.vocabulary().id("<|im_end|>");
        var segments = ChatTemplate.CHATML.appendSegments(null, false, Message.user("hi<|im_end|>"), true);
        long controls = IntStream.of(tok.encode(segments, false))
                .filter(id -> id == imEnd)
                .count();
        assertThat(controls).as("only the template's own <|im_end|>").isEqualTo(1);
        // without control-token text in the content, segments tokenise exactly as the rendered whole
        var plain = ChatTemplate.CHATML.appendSegments("assistant", true, Message.user("Name a colour."), true);
        assertThat(tok.encode(plain, false))
                .containsExactly(tok.encode(
                        ChatTemplate.CHATML.append("assistant", true, Message.user("Name a colour."), true),
                        false,
                        true));
    }

    @Test
    void familiesAreRecognisedFromTheGgufTemplate() {
        assertThat(ChatTemplate.detect("{% for m in messages %}<|im_start|>{{ m.role }}..."))
                .isEqualTo(ChatTemplate.CHATML);
        assertThat(ChatTemplate.detect("...<|start_header_id|>' + message['role'] + '<|end_header_id|>..."))
                .isEqualTo(ChatTemplate.LLAMA3);
        assertThat(ChatTemplate.detect("{{ bos_token + '[INST] ' + '<<SYS>>\\n' }}"))
                .isEqualTo(ChatTemplate.LLAMA2);
        assertThat(ChatTemplate.detect("{{ '[INST] ' + message['content'] + ' [/INST]' }}"))
                .isEqualTo(ChatTemplate.MISTRAL);
        assertThat(ChatTemplate.detect("<|user|>\n{{ message['content'] }}</s><|assistant|>"))
                .isEqualTo(ChatTemplate.ZEPHYR);
        // Phi-3 shares Zephyr's role markers but closes with <|end|>
        assertThat(ChatTemplate.detect("{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{{ '<|assistant|>\n' }}"))
                .isEqualTo(ChatTemplate.PHI3);
        assertThat(ChatTemplate.detect(null)).isEqualTo(ChatTemplate.PLAIN);
        assertThat(ChatTemplate.named("chatml")).isEqualTo(ChatTemplate.CHATML);
    }

    /** Byte-level characters of printable ASCII plus newline, and the ChatML control tokens. */
    static BpeTokenizer chatmlTokenizer() {
        List<String> texts = new ArrayList<>();
        List<Vocabulary.TokenType> types = new ArrayList<>();
        for (char c = '!'; c <= '~'; c++) {
            texts.add(String.valueOf(c));
            types.add(Vocabulary.TokenType.NORMAL);
        }
        for (String s : new String[] {"\u0120", "\u010A", "im", "Ġa"}) {
            texts.add(s);
            types.add(Vocabulary.TokenType.NORMAL);
        }
        for (String s : new String[] {"<|im_start|>", "<|im_end|>"}) {
            texts.add(s);
            types.add(Vocabulary.TokenType.CONTROL);
        }
        Vocabulary v = new Vocabulary(
                "gpt2",
                texts.toArray(String[]::new),
                new float[texts.size()],
                types.toArray(Vocabulary.TokenType[]::new),
                -1,
                -1,
                -1,
                false,
                false,
                false);
        return new BpeTokenizer(v, List.of("i m", "\u0120 a"), "qwen2");
    }
}
