package io.razorstream.store;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.chat.ConversationState;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Ops;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.synth.SynthModel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The constructed model with known retrieval heads, written once per test JVM, and turns run on it. */
final class SynthSessions {
    private static LoadedModel model;

    private SynthSessions() {}

    static synchronized LoadedModel model() {
        if (model == null) {
            try {
                Path file = Files.createTempFile("synth", ".gguf");
                file.toFile().deleteOnExit();
                SynthModel.write(file, GgmlType.F32);
                model = LoadedModel.open(file);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return model;
    }

    /** Razor on the synthetic model: its induction and echo heads full, the others 4 sinks + 64 + compensation. */
    static KvPolicy razor() {
        boolean[][] full = new boolean[SynthModel.LAYERS][SynthModel.HEADS];
        full[SynthModel.INDUCTION[0]][SynthModel.INDUCTION[1]] = true;
        full[SynthModel.ECHO[0]][SynthModel.ECHO[1]] = true;
        return KvPolicy.razor(full, new WindowParams(4, 64, 1_000_000));
    }

    /**
     * One turn: the session's pending token and the text are prefilled in chunks of {@code chunk}, then {@code reply}
     * tokens are decoded greedily (the last one stays pending, as a chat service leaves it). Returns the logits after
     * the last step.
     */
    static float[] turn(Session s, String text, int chunk, int reply, Parallel parallel) {
        LoadedModel m = model();
        int[] textTokens = m.tokenizer().encode(text, s.tokens() == 0, false);
        int[] pending = s.conversation().pendingTokens();
        int[] tokens = new int[pending.length + textTokens.length];
        System.arraycopy(pending, 0, tokens, 0, pending.length);
        System.arraycopy(textTokens, 0, tokens, pending.length, textTokens.length);
        float[] logits = null;
        for (int from = 0; from < tokens.length; from += chunk) {
            logits = m.model().forward(s.cache(), tokens, from, Math.min(chunk, tokens.length - from), parallel);
        }
        int next = Ops.argmax(logits);
        for (int i = 1; i < reply; i++) {
            logits = m.model().forward(s.cache(), new int[] {next}, 0, 1, parallel);
            next = Ops.argmax(logits);
        }
        s.setConversation(new ConversationState(null, "", false, reply > 0 ? new int[] {next} : new int[0], List.of()));
        return logits;
    }
}
