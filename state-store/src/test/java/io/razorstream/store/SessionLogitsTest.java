package io.razorstream.store;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.kernel.Parallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** A session saved, dropped from memory and loaded again computes bit-identical logits, on a real model. */
class SessionLogitsTest {
    static String filler(Random r, int chars) {
        String words = "the quick brown fox jumps over a lazy dog ";
        StringBuilder sb = new StringBuilder();
        while (sb.length() < chars) sb.append(words, r.nextInt(words.length() / 2), words.length());
        return sb.substring(0, chars);
    }

    @ParameterizedTest
    @EnumSource(
            value = KvPrecision.class,
            names = {"F16", "Q8"})
    void reloadedSessionGivesIdenticalNextTokenLogits(KvPrecision precision, @TempDir Path dir) {
        LoadedModel m = SynthSessions.model();
        try (RocksBackend db = new RocksBackend(dir, false);
                Parallel p = new Parallel(2)) {
            SessionStore store = new SessionStore(db);
            Session live = Session.create(
                    "chat",
                    m.model().config(),
                    SynthSessions.razor(),
                    precision,
                    m.gguf().fingerprint(),
                    "synth",
                    32);
            Random r = new Random(1);
            // long and short turns, prefilled in batches and token by token, with replies decoded
            SynthSessions.turn(live, "The code is #K7Q2. " + filler(r, 300), 96, 3, p);
            store.save(live, 1);
            SynthSessions.turn(live, filler(r, 17), 1, 0, p);
            store.save(live, 2);
            SynthSessions.turn(live, filler(r, 250), 64, 5, p);
            store.save(live, 3);
            SynthSessions.turn(live, "x", 1, 1, p);
            store.save(live, 4);
            Session loaded = store.load("chat", m.model().config(), m.gguf().fingerprint())
                    .orElseThrow();
            Caches.assertSameContents(live.cache(), loaded.cache());
            float[] a = SynthSessions.turn(live, " Remember the code #", 8, 4, p);
            float[] b = SynthSessions.turn(loaded, " Remember the code #", 8, 4, p);
            assertThat(b).isEqualTo(a);
            assertThat(loaded.conversation().pendingTokens())
                    .isEqualTo(live.conversation().pendingTokens());
        }
    }

    @Test
    void aSessionEvictedFromMemoryComesBackBitIdentical(@TempDir Path dir) {
        LoadedModel m = SynthSessions.model();
        try (RocksBackend db = new RocksBackend(dir, false);
                Parallel p = new Parallel(2)) {
            Session probe = Session.create(
                    "probe", m.model().config(), SynthSessions.razor(), KvPrecision.F16, "fp", "synth", 32);
            SynthSessions.turn(probe, filler(new Random(2), 200), 64, 0, p);
            // room for about one such session: using a second one pushes the first out
            HotSessions hot = new HotSessions(probe.cache().heapBytes() * 3 / 2);
            SessionRepository repo = new SessionRepository(
                    new SessionStore(db), hot, m.model().config(), m.gguf().fingerprint());
            Session a = Session.create(
                    "a",
                    m.model().config(),
                    SynthSessions.razor(),
                    KvPrecision.F16,
                    m.gguf().fingerprint(),
                    "synth",
                    32);
            Session twin = Session.create(
                    "twin",
                    m.model().config(),
                    SynthSessions.razor(),
                    KvPrecision.F16,
                    m.gguf().fingerprint(),
                    "synth",
                    32);
            for (Session s : new Session[] {a, twin}) SynthSessions.turn(s, filler(new Random(3), 200), 64, 2, p);
            repo.commit(a, 1);
            Session b = Session.create(
                    "b",
                    m.model().config(),
                    SynthSessions.razor(),
                    KvPrecision.F16,
                    m.gguf().fingerprint(),
                    "synth",
                    32);
            SynthSessions.turn(b, filler(new Random(4), 220), 64, 2, p);
            repo.commit(b, 2);
            assertThat(hot.contains("a")).as("a was least recently used").isFalse();
            assertThat(hot.contains("b")).isTrue();
            Session again = repo.find("a").orElseThrow();
            assertThat(again).isNotSameAs(a);
            assertThat(SynthSessions.turn(again, " #", 1, 3, p)).isEqualTo(SynthSessions.turn(twin, " #", 1, 3, p));
        }
    }
}
