package io.razorstream.store;

import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KeyRotation;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.RandomContext;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.chat.ConversationState;
import io.razorstream.engine.chat.Message;
import io.razorstream.engine.chat.ModelChatTemplate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static io.razorstream.store.Caches.SMALL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SessionStoreTest {
    static final WindowParams WINDOW = new WindowParams(4, 40, 5);

    @ParameterizedTest
    @EnumSource(KvPrecision.class)
    void roundTripAfterMixedTurnsGivesTheSameCache(KvPrecision precision, @TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session("s1", SMALL, Caches.razor(SMALL, 3, WINDOW), precision, 16);
            SplittableRandom r = new SplittableRandom(5);
            int[] turns = {1, 2, 3, 7, 150, 1, 16, 17, 300, 5, 33, 1, 64, 2};
            for (int i = 0; i < turns.length; i++) {
                RandomContext.append(s.cache(), turns[i], r.nextLong());
                s.recordTurn(new AppliedTurn("t" + i, "reply " + i, 2, 10 + i, i));
                store.save(s, 1000 + i);
                // reload after every turn: what is stored is always the whole current state
                Session back = store.load("s1", SMALL, "model-fp").orElseThrow();
                Caches.assertSameContents(s.cache(), back.cache());
            }
            List<Message> history =
                    List.of(Message.system("Be brief."), Message.user("Hi"), Message.assistant("Hello ü"));
            s.setConversation(
                    new ConversationState(ModelChatTemplate.LABEL, "assistant", true, new int[] {42}, history));
            store.save(s, 5000);
            Session back = store.load("s1", SMALL, "model-fp").orElseThrow();
            assertThat(back.conversation().pendingTokens()).containsExactly(42);
            assertThat(back.conversation().lastRole()).isEqualTo("assistant");
            assertThat(back.conversation().afterReply()).isTrue();
            assertThat(back.conversation().template()).isEqualTo(ModelChatTemplate.LABEL);
            assertThat(back.conversation().history()).isEqualTo(history);
            assertThat(store.appliedTurn("s1", "t3")).contains(new AppliedTurn("t3", "reply 3", 2, 13, 3));
            assertThat(store.appliedTurn("s1", "t0"))
                    .as("every turn is remembered, not only recent ones")
                    .isPresent();
            assertThat(store.appliedTurn("s1", "t99")).isEmpty();
            assertThat(back.turnsApplied()).isEqualTo(turns.length);
            assertThat(back.lastActivityMillis()).isEqualTo(5000);
            assertThat(back.cache().precision()).isEqualTo(precision);
            assertThat(back.cache().bytesInUse()).isEqualTo(s.cache().bytesInUse());
            SessionMeta meta = store.meta("s1").orElseThrow();
            assertThat(meta.kvBytes(SMALL.headSize())).isEqualTo(s.cache().bytesInUse());
            assertThat(meta.fullKvBytes(SMALL.headSize())).isEqualTo(s.cache().fullBytes());
            // the reloaded session keeps growing exactly as the original does
            RandomContext.append(s.cache(), 90, 77);
            RandomContext.append(back.cache(), 90, 77);
            Caches.assertSameContents(s.cache(), back.cache());
            store.save(back, 6000);
            Caches.assertSameContents(
                    s.cache(), store.load("s1", SMALL, "model-fp").orElseThrow().cache());
        }
    }

    /**
     * A session shifted again and again (its FULL heads turned into capped windows, every kept key re-rotated) is
     * stored whole after each shift and loads back the same, with no block left over from before (each head keeps at
     * most its window's blocks plus a partial one), while its applied-turn records stay.
     */
    @Test
    void shiftedSessionsAreRewrittenAndLoadBackTheSame(@TempDir Path dir) {
        int block = 16;
        KeyRotation rotation = (layer, key, off) -> { // any fixed rotation of pairs will do here
            float c = (float) Math.cos(0.3 + layer), sn = (float) Math.sin(0.3 + layer);
            for (int i = 0; i + 1 < SMALL.headSize(); i += 2) {
                float x0 = key[off + i], x1 = key[off + i + 1];
                key[off + i] = x0 * c - x1 * sn;
                key[off + i + 1] = x0 * sn + x1 * c;
            }
        };
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session("shifty", SMALL, Caches.razor(SMALL, 3, WINDOW), KvPrecision.F16, block);
            SplittableRandom r = new SplittableRandom(21);
            for (int turn = 0; turn < 40; turn++) {
                RandomContext.append(s.cache(), 1 + r.nextInt(150), r.nextLong());
                if (s.cache().position() > 900) s.cache().shift(s.cache().position() / 4, 4, rotation);
                s.recordTurn(new AppliedTurn("t" + turn, "", 1, 1, 0));
                store.save(s, turn);
                Session back = store.load("shifty", SMALL, "model-fp").orElseThrow();
                Caches.assertSameContents(s.cache(), back.cache());
                assertThat(store.meta("shifty").orElseThrow().kvBytes(SMALL.headSize()))
                        .isEqualTo(s.cache().bytesInUse());
                for (int l = 0; l < SMALL.blockCount(); l++) {
                    for (int h = 0; h < SMALL.kvHeadCount(); h++) {
                        if (!(s.cache().policy().spec(l, h) instanceof HeadSpec.Window w)) continue;
                        int bound = (int) Math.ceil(w.params().window(s.tokens()) / (double) block) + 1;
                        assertThat(countBlocks(db, "shifty", l, h))
                                .as("turn %d, head (%d, %d) blocks", turn, l, h)
                                .isLessThanOrEqualTo(bound);
                    }
                }
            }
            assertThat(s.cache().shifts()).isGreaterThan(2);
            assertThat(s.tokens()).isGreaterThan(2500);
            assertThat(store.appliedTurn("shifty", "t0"))
                    .as("turn records outlive the rewrites")
                    .isPresent();
            SessionMeta meta = store.meta("shifty").orElseThrow();
            assertThat(meta.shifts()).isEqualTo(s.cache().shifts());
            assertThat(meta.positionOffset()).isEqualTo(s.cache().positionOffset());
        }
    }

    @Test
    void windowHeadsStoreAtMostTheWindowPlusOnePartialBlock(@TempDir Path dir) {
        int block = 16;
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session("w", SMALL, Caches.razor(SMALL, 3, WINDOW), KvPrecision.F16, block);
            SplittableRandom r = new SplittableRandom(9);
            for (int turn = 0; turn < 40; turn++) {
                RandomContext.append(s.cache(), 1 + r.nextInt(120), r.nextLong());
                store.save(s, turn);
                int tokens = s.tokens();
                int bound = (int) Math.ceil(WINDOW.window(tokens) / (double) block) + 1;
                for (int l = 0; l < SMALL.blockCount(); l++) {
                    for (int h = 0; h < SMALL.kvHeadCount(); h++) {
                        int blocks = countBlocks(db, "w", l, h);
                        if (s.cache().compressed(l, h) != null)
                            assertThat(blocks)
                                    .as("turn %d, %d tokens, (%d, %d)", turn, tokens, l, h)
                                    .isLessThanOrEqualTo(bound);
                        else assertThat(blocks).isEqualTo((tokens + block - 1) / block);
                    }
                }
            }
        }
    }

    static int countBlocks(RocksBackend db, String session, int layer, int head) {
        byte[] from = SessionKeys.block(session, layer, head, 0),
                to = SessionKeys.block(session, layer, head, 0xffffffffL);
        int[] n = {0};
        db.scan(from, to, (k, v) -> {
            n[0]++;
            return true;
        });
        return n[0];
    }

    @Test
    void aFlippedByteIsReportedWithTheSessionAndKey(@TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session("chat-7", SMALL, Caches.razor(SMALL, 3, WINDOW), KvPrecision.F16, 16);
            RandomContext.append(s.cache(), 100, 1);
            store.save(s, 1);
            byte[] key = SessionKeys.block("chat-7", 1, 2, 3);
            byte[] value = db.get(key);
            value[value.length / 2] ^= 0x10;
            WriteBatchBuilder b = new WriteBatchBuilder();
            b.put(key, value);
            db.write(b);
            assertThatThrownBy(() -> store.load("chat-7", SMALL, "model-fp"))
                    .isInstanceOf(StoreFormatException.class)
                    .hasMessageContaining("session 'chat-7'")
                    .hasMessageContaining("layer 1, KV head 2, block 3")
                    .hasMessageContaining("checksum");
        }
    }

    @Test
    void deleteRemovesEveryKeyOfTheSessionAndNoneOfAnotherWithALongerId(@TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            for (String id : new String[] {"abc", "abcd", "ab"}) {
                Session s = Caches.session(id, SMALL, Caches.razor(SMALL, 3, WINDOW), KvPrecision.F16, 16);
                RandomContext.append(s.cache(), 70, id.length());
                s.recordTurn(new AppliedTurn("turn-1", "reply", 2, 70, 0));
                store.save(s, 1);
            }
            long abcd = store.storedBytes("abcd"), ab = store.storedBytes("ab");
            assertThat(store.storedBytes("abc")).isPositive();
            store.delete("abc");
            assertThat(store.storedBytes("abc")).isZero();
            assertThat(store.load("abc", SMALL, "model-fp")).isEmpty();
            assertThat(store.appliedTurn("abc", "turn-1"))
                    .as("turn records go with the session")
                    .isEmpty();
            assertThat(store.appliedTurn("abcd", "turn-1")).isPresent();
            assertThat(store.storedBytes("abcd")).isEqualTo(abcd);
            assertThat(store.storedBytes("ab")).isEqualTo(ab);
            List<String> keysLeft = new ArrayList<>();
            db.scan(new byte[] {0}, new byte[] {(byte) 0xff}, (k, v) -> {
                keysLeft.add(new String(k, StandardCharsets.ISO_8859_1));
                return true;
            });
            assertThat(keysLeft).noneMatch(k -> k.contains("abc") && !k.contains("abcd"));
            assertThat(store.load("abcd", SMALL, "model-fp")).isPresent();
        }
    }

    @Test
    void idleSessionsExpireAndListingPages(@TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            for (int i = 0; i < 5; i++) {
                Session s = Caches.session("s" + i, SMALL, Caches.razor(SMALL, 3, WINDOW), KvPrecision.F16, 16);
                RandomContext.append(s.cache(), 10, i);
                store.save(s, i * 1000L);
            }
            assertThat(store.list(null, 2)).extracting(SessionMeta::sessionId).containsExactly("s0", "s1");
            assertThat(store.list("s1", 10)).extracting(SessionMeta::sessionId).containsExactly("s2", "s3", "s4");
            assertThat(store.expireIdle(4500, Duration.ofSeconds(2))).containsExactly("s0", "s1", "s2");
            assertThat(store.list(null, 10)).extracting(SessionMeta::sessionId).containsExactly("s3", "s4");
            assertThat(store.storedBytes("s0")).isZero();
        }
    }

    @Test
    void anotherFormatVersionOrModelIsRefusedClearly(@TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session("v", SMALL, Caches.razor(SMALL, 3, WINDOW), KvPrecision.F16, 16);
            RandomContext.append(s.cache(), 10, 1);
            store.save(s, 1);
            assertThatThrownBy(() -> store.load("v", SMALL, "other-model"))
                    .isInstanceOf(StoreFormatException.class)
                    .hasMessageContaining("made with model model-fp");
            byte[] meta = db.get(SessionKeys.meta("v"));
            meta[2] = 9; // the format version byte
            WriteBatchBuilder b = new WriteBatchBuilder();
            b.put(SessionKeys.meta("v"), meta);
            db.write(b);
            assertThatThrownBy(() -> store.load("v", SMALL, "model-fp"))
                    .isInstanceOf(StoreFormatException.class)
                    .hasMessageContaining("session 'v'")
                    .hasMessageContaining("format version 9")
                    .hasMessageContaining("reads version " + RecordCodec.FORMAT_VERSION);
        }
    }

    @Test
    void aSessionLargerThanTheMemoryBudgetIsNotKeptAndEvictsNothing(@TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            Session small = Caches.session("small", SMALL, Caches.razor(SMALL, 3, WINDOW), KvPrecision.F16, 16);
            Session big = Caches.session("big", SMALL, Caches.razor(SMALL, 3, WINDOW), KvPrecision.F16, 16);
            RandomContext.append(small.cache(), 10, 1);
            RandomContext.append(big.cache(), 1000, 2);
            HotSessions hot = new HotSessions(small.cache().heapBytes() * 2);
            SessionRepository repo = new SessionRepository(new SessionStore(db), hot, SMALL, "model-fp");
            repo.commit(small, 1);
            repo.commit(big, 2);
            assertThat(hot.contains("small")).isTrue();
            assertThat(hot.contains("big")).isFalse();
            assertThat(repo.find("big")).isPresent(); // still in the store
            // a closing task releases every session its repository put in memory, loaded or written
            repo.releaseAll();
            assertThat(hot.size()).isZero();
        }
    }

    @Test
    void sessionIdsAreChecked() {
        assertThatThrownBy(() -> SessionKeys.meta("")).hasMessageContaining("must not be empty");
        assertThatThrownBy(() -> SessionKeys.meta("x".repeat(300))).hasMessageContaining("at most 256");
    }
}
