package io.razorstream.engine.chat;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.SharedModels;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A conversation keeps its history in the cache: each turn adds only its own tokens. */
class ConversationTest {
    @Test
    void eachTurnPrefillsOnlyWhatItAdds() {
        try (LoadedModel m = LoadedModel.open(SharedModels.require("fixtures/qwen2-q-F16.gguf"));
                Parallel p = new Parallel(2)) {
            Conversation c = Conversation.start(m, ChatTemplate.CHATML, p);
            c.add(Message.system("Be brief."));
            int[] generated = new int[1];
            String first = c.reply("Hi!", SamplerConfig.GREEDY, 5, (t, piece) -> {
                if (t >= 0) generated[0]++;
            });
            int afterFirst = c.tokens();
            String whole = ChatTemplate.CHATML.render(List.of(Message.system("Be brief."), Message.user("Hi!")), true);
            assertThat(afterFirst)
                    .isEqualTo(m.tokenizer().encode(whole, false, true).length
                            + generated[0]); // every reply token is in the cache
            generated[0] = 0;
            c.reply("More?", SamplerConfig.GREEDY, 3, (t, piece) -> {
                if (t >= 0) generated[0]++;
            });
            String added = ChatTemplate.CHATML.append("assistant", true, Message.user("More?"), true);
            assertThat(c.tokens())
                    .isEqualTo(afterFirst + m.tokenizer().encode(added, false, true).length + generated[0]);
            assertThat(first).isNotEmpty();
            c.reset();
            assertThat(c.tokens()).isZero();
        }
    }

    /**
     * With the model's own template a conversation keeps its messages, replies as generated, and each turn adds what
     * the whole rendering adds after them.
     */
    @Test
    void theModelsOwnTemplateKeepsTheMessagesAndAddsEachTurn() throws Exception {
        try (LoadedModel m = LoadedModel.open(SharedModels.require("fixtures/qwen2-q-F16.gguf"));
                Parallel p = new Parallel(2)) {
            ModelChatTemplate t = new ModelChatTemplate(
                    ModelChatTemplateTest.resource("Qwen-Qwen2.5-7B-Instruct.jinja"),
                    null,
                    "<|im_end|>",
                    java.util.Map.of());
            Conversation c = Conversation.start(m, t, p);
            c.add(Message.system("Be brief."));
            String first = c.reply("Hi!", SamplerConfig.GREEDY, 5, null);
            int before = c.tokens();
            String second = c.reply("More?", SamplerConfig.GREEDY, 4, null);
            List<Message> history = c.state().history();
            assertThat(history)
                    .extracting(Message::role)
                    .containsExactly("system", "user", "assistant", "user", "assistant");
            assertThat(history.get(2).content()).startsWith(first);
            assertThat(history.get(4).content()).startsWith(second);
            assertThat(c.state().template()).isEqualTo(ModelChatTemplate.LABEL);
            // the second turn added the closing of the first reply, the user turn and the reply's opening, no more
            String cached =
                    t.render(history.subList(0, 2), true, null) + history.get(2).content();
            String whole = t.render(history.subList(0, 4), true, null);
            assertThat(whole).startsWith(cached);
            int added = m.tokenizer().encode(whole.substring(cached.length()), false, true).length;
            assertThat(c.tokens() - before).isBetween(added, added + 4 + 1); // + the reply's tokens (pending one too)
        }
    }
}
