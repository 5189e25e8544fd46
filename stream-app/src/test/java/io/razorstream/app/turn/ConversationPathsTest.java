package io.razorstream.app.turn;

import io.razorstream.app.model.ServedModel;
import io.razorstream.engine.DefaultModel;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.Conversation;
import io.razorstream.engine.chat.Message;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.store.RocksBackend;
import io.razorstream.store.Session;
import io.razorstream.store.SessionStore;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Property: a random conversation (system and user messages, budgets, stop strings, greedy or seeded sampling) gives
 * the same replies, finish reasons and token counts through the terminal chat's path (one engine {@link Conversation}
 * over its own cache) and through the service's path ({@link TurnRunner} on a stored session, saved to RocksDB and
 * loaded back between turns).
 */
class ConversationPathsTest {
    private static final String[] WORDS = {
        "the", "cat", "sat", "on", "a", "mat", "and", "Lily", "saw", "big", "red", "ball", "happy", "dog"
    };

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6})
    void terminalChatAndServiceAgree(long seed, @TempDir Path dir) {
        SplittableRandom random = new SplittableRandom(seed);
        ChatTemplate template = seed % 2 == 0 ? ChatTemplate.CHATML : ChatTemplate.PLAIN;
        try (LoadedModel m = LoadedModel.open(DefaultModel.path());
                Parallel p = new Parallel(2);
                RocksBackend db = new RocksBackend(dir, false)) {
            var config = m.model().config();
            boolean[][] full = new boolean[config.blockCount()][config.kvHeadCount()];
            for (boolean[] row : full) Arrays.fill(row, true); // the terminal chat keeps every head
            ServedModel served = new ServedModel(
                    Path.of("stories260K.gguf"),
                    m,
                    full,
                    full,
                    "fp",
                    new WindowParams(4, 64, 5),
                    KvPrecision.F16,
                    false,
                    template);
            TurnRunner runner = new TurnRunner(served, p, 0, Conversation.Overflow.REFUSE, 0);
            SessionStore store = new SessionStore(db);
            Session session = Session.create("s", config, served.policy(), KvPrecision.F16, "model-fp", "fp", 16);
            Conversation chat = Conversation.start(m, template, p);

            int turns = 2 + random.nextInt(4), generated = 0;
            for (int turn = 0; turn < turns; turn++) {
                boolean reply = turn > 0 || random.nextBoolean();
                String role = reply ? "user" : "system";
                String text = words(random, 1 + random.nextInt(8));
                int maxTokens = 1 + random.nextInt(24);
                List<String> stop =
                        random.nextInt(3) == 0 ? List.of(" " + WORDS[random.nextInt(WORDS.length)]) : List.of();
                boolean sampled = random.nextBoolean();
                long samplerSeed = random.nextLong();
                GenerationParams.Builder params =
                        GenerationParams.newBuilder().setMaxTokens(maxTokens).addAllStop(stop);
                if (sampled)
                    params.setTemperature(0.8f)
                            .setTopK(40)
                            .setTopP(0.95f)
                            .setMinP(0.05f)
                            .setRepeatPenalty(1.1f)
                            .setSeed(samplerSeed);
                SamplerConfig sampling = TurnRunner.samplerConfig(params.build());

                List<String> servicePieces = new ArrayList<>(), chatPieces = new ArrayList<>();
                TurnResult service = runner.run(
                        session,
                        "turn-" + session.tokens(),
                        role,
                        text,
                        reply,
                        params.build(),
                        maxTokens,
                        servicePieces::add,
                        () -> false);
                Conversation.Turn local = chat.turn(
                        new Message(role, text),
                        reply,
                        Decoder.Request.of(sampling, maxTokens).withStop(stop),
                        (t, s) -> chatPieces.add(s));

                String where = "seed " + seed + ", turn " + turn;
                assertThat(service.promptTokens()).as(where).isEqualTo(local.promptTokens());
                if (reply) {
                    generated += service.completionTokens();
                    assertThat(service.text()).as(where).isEqualTo(local.reply().text());
                    assertThat(service.completionTokens())
                            .as(where)
                            .isEqualTo(local.reply().tokens().length);
                    assertThat(service.finishReason().name())
                            .as(where)
                            .isEqualTo("FINISH_REASON_" + local.reply().finish().name());
                    assertThat(String.join("", servicePieces)).as(where).isEqualTo(service.text());
                    assertThat(servicePieces).as(where).isEqualTo(chatPieces);
                }
                assertThat(session.tokens() + session.conversation().pendingTokens().length)
                        .as(where)
                        .isEqualTo(chat.tokens());

                store.save(session, 1000 + turn);
                session = store.load("s", config, "model-fp").orElseThrow(); // the next turn runs on what was stored
                assertThat(session.conversation().pendingTokens())
                        .as(where)
                        .isEqualTo(chat.state().pendingTokens());
                assertThat(session.conversation().lastRole())
                        .as(where)
                        .isEqualTo(chat.state().lastRole());
                assertThat(session.conversation().afterReply())
                        .as(where)
                        .isEqualTo(chat.state().afterReply());
                assertThat(session.conversation().template()).as(where).isEqualTo(template.label());
            }
            assertThat(generated)
                    .as("seed %d: the paths agree on replies, not on nothing", seed)
                    .isPositive();
        }
    }

    private static String words(SplittableRandom random, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append(i == 0 ? "" : " ").append(WORDS[random.nextInt(WORDS.length)]);
        return sb.toString();
    }
}
