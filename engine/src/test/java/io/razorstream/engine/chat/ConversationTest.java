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
}
