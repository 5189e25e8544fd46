package io.razorstream.engine.tokenizer;

import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.Message;
import io.razorstream.engine.chat.ModelChatTemplate;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The byte-level BPE vocabularies random-model writes for the Llama 3 and Qwen shapes read back as those families'
 * tokenizers.
 */
class BpeVocabularyWriterTest {
    @TempDir
    Path dir;

    private GgufFile written(String pre, int size, BpeVocabularyWriter.Specials specials) throws IOException {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        BpeVocabularyWriter.write(w, pre, size, specials);
        Path file = dir.resolve(pre + ".gguf");
        w.write(file);
        return GgufFile.open(file);
    }

    @Test
    void llama3VocabularyIsByteLevelBpeWithItsSpecialsWhereLlama3HasThem() throws IOException {
        try (GgufFile f = written("llama-bpe", 128256, BpeVocabularyWriter.LLAMA3_SPECIALS)) {
            assertThat(f.get("tokenizer.ggml.model").asString()).isEqualTo("gpt2");
            Tokenizer t = Tokenizer.from(f);
            assertThat(t).isInstanceOf(BpeTokenizer.class);
            Vocabulary v = t.vocabulary();
            assertThat(v.size()).isEqualTo(128256);
            assertThat(v.bos()).isEqualTo(128000);
            assertThat(v.id("<|eot_id|>")).isEqualTo(128009);
            int[] ids = t.encode("hello world<|eot_id|>", true, true);
            assertThat(ids[0]).isEqualTo(128000);
            assertThat(ids[ids.length - 1]).isEqualTo(128009);
            assertThat(ids.length).isLessThan("hello world".length()); // the letter-pair merges apply
            StringBuilder text = new StringBuilder();
            for (int id : ids) text.append(new String(t.piece(id), StandardCharsets.UTF_8));
            assertThat(text.toString()).isEqualTo("hello world");
            String template = f.get("tokenizer.chat_template").asString();
            assertThat(ChatTemplate.detect(template)).isEqualTo(ChatTemplate.LLAMA3);
            // the model's own template (Jinja) renders what the built-in family does, after its BOS
            List<Message> chat = List.of(Message.system("Be brief."), Message.user("Hi"));
            assertThat(new ModelChatTemplate(template, "<|begin_of_text|>", "<|eot_id|>", Map.of())
                            .render(chat, true, null))
                    .isEqualTo("<|begin_of_text|>" + ChatTemplate.LLAMA3.render(chat, true));
        }
    }

    @Test
    void qwenVocabularyAddsNoBosAndEndsTurnsWithImEnd() throws IOException {
        try (GgufFile f = written("qwen2", 151936, BpeVocabularyWriter.QWEN_SPECIALS)) {
            Tokenizer t = Tokenizer.from(f);
            assertThat(t.vocabulary().addBos()).isFalse();
            assertThat(t.vocabulary().id("<|im_start|>")).isEqualTo(151644);
            assertThat(t.vocabulary().eos()).isEqualTo(151645);
            String template = f.get("tokenizer.chat_template").asString();
            assertThat(ChatTemplate.detect(template)).isEqualTo(ChatTemplate.QWEN3);
            List<Message> chat = List.of(Message.system("Be brief."), Message.user("Hi"));
            assertThat(new ModelChatTemplate(template, null, "<|im_end|>", Map.of()).render(chat, true, null))
                    .isEqualTo(ChatTemplate.QWEN3.render(chat, true));
            assertThat(new ModelChatTemplate(template, null, "<|im_end|>", Map.of("enable_thinking", false))
                            .render(chat, true, null))
                    .isEqualTo(ChatTemplate.QWEN3_NO_THINK.render(chat, true));
        }
    }
}
