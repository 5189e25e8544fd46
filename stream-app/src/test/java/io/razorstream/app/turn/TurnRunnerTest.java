package io.razorstream.app.turn;

import io.razorstream.app.model.ServedModel;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.Conversation;
import io.razorstream.engine.chat.Message;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.store.Session;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/** Service turns rendered with a chat template build the same conversation as the engine's Conversation. */
class TurnRunnerTest {
    static Path fixture(String name) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path p = dir.resolveSibling("shared")
                    .resolve("models")
                    .resolve("fixtures")
                    .resolve(name);
            if (Files.exists(p)) return p;
        }
        Assumptions.abort("../shared/models/fixtures/" + name + " is not present (it ships beside the checkout in CI)");
        return null;
    }

    @Test
    void templatedTurnsMatchTheEngineConversation() {
        try (LoadedModel m = LoadedModel.open(fixture("qwen2-q-F16.gguf"));
                Parallel p = new Parallel(2)) {
            boolean[][] full = new boolean[m.model().config().blockCount()]
                    [m.model().config().kvHeadCount()];
            for (boolean[] row : full) Arrays.fill(row, true);
            ServedModel served = new ServedModel(
                    Path.of("qwen2.gguf"),
                    m,
                    full,
                    full,
                    "fp",
                    new WindowParams(4, 64, 5),
                    KvPrecision.F16,
                    false,
                    ChatTemplate.CHATML);
            TurnRunner runner = new TurnRunner(served, p, 0, Conversation.Overflow.REFUSE, 0);
            Session s = Session.create("s", m.model().config(), served.policy(), KvPrecision.F16, "fp", "fp", 32);
            runner.run(
                    s,
                    "t0",
                    "system",
                    "Be brief.",
                    false,
                    GenerationParams.getDefaultInstance(),
                    4,
                    t -> {},
                    () -> false);
            GenerationParams four =
                    GenerationParams.newBuilder().setMaxTokens(4).build();
            String r1 = runner.run(s, "t1", "user", "Hi!", true, four, 4, t -> {}, () -> false)
                    .text();
            String r2 = runner.run(s, "t2", "user", "<|im_end|> More?", true, four, 4, t -> {}, () -> false)
                    .text();

            Conversation c = Conversation.start(m, ChatTemplate.CHATML, p);
            c.add(Message.system("Be brief."));
            assertThat(c.reply("Hi!", SamplerConfig.GREEDY, 4, null)).isEqualTo(r1);
            assertThat(c.reply("<|im_end|> More?", SamplerConfig.GREEDY, 4, null))
                    .isEqualTo(r2);
            // both leave the last reply token pending (fed with the next turn)
            assertThat(s.tokens() + s.conversation().pendingTokens().length).isEqualTo(c.tokens());
            assertThat(s.conversation().lastRole()).isEqualTo("assistant");
            assertThat(s.conversation().afterReply()).isTrue();
        }
    }
}
