package io.razorstream.store;

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

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static io.razorstream.store.Caches.SMALL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Turns taken back through the store: a session that has turns appended and rolled back at random, saved after each
 * step and sometimes continued from its reloaded copy (a restart), is bit for bit the session that never had the
 * rolled-back turns - in memory, as stored, and as reloaded - and its stored undo records take it back further exactly.
 */
class SessionRollbackTest {
    static final WindowParams WINDOW = new WindowParams(4, 24, 5);
    static final int KEEP = 4, BLOCK = 8;

    /** A turn of the reference history: how many tokens, from which seed. */
    record Step(int tokens, long seed) {}

    @ParameterizedTest
    @EnumSource(KvPrecision.class)
    void rolledBackSessionsEqualSessionsThatNeverHadTheTurns(KvPrecision precision, @TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session live = Caches.session("s", SMALL, Caches.razor(SMALL, 3, WINDOW), precision, BLOCK);
            List<Step> history = new ArrayList<>();
            SplittableRandom r = new SplittableRandom(11);
            int rollbacks = 0, turn = 0;
            for (int step = 0; step < 40; step++) {
                int undoable = live.undoableTurns().size();
                if (undoable > 0 && r.nextInt(10) < 3) {
                    int back = 1 + r.nextInt(undoable);
                    List<Session.TurnMark> undone = live.rollback(back);
                    assertThat(undone).hasSize(back);
                    for (int i = 0; i < back; i++) history.removeLast();
                    rollbacks++;
                } else {
                    // turns of 1 to 60 tokens: some evict more than a whole window, some nothing
                    Step s = new Step(1 + r.nextInt(r.nextBoolean() ? 8 : 60), r.nextLong());
                    apply(live, s, "t" + turn++);
                    history.add(s);
                }
                store.save(live, step);
                Session reference = replay(history, precision);
                Caches.assertSameContents(reference.cache(), live.cache());
                assertThat(live.conversation().pendingTokens())
                        .isEqualTo(reference.conversation().pendingTokens());
                assertThat(live.conversation().history())
                        .isEqualTo(reference.conversation().history());
                Session back = store.load("s", SMALL, "model-fp").orElseThrow();
                Caches.assertSameContents(reference.cache(), back.cache());
                assertThat(back.undoableTurns())
                        .extracting(Session.TurnMark::turnId)
                        .isEqualTo(live.undoableTurns().stream()
                                .map(Session.TurnMark::turnId)
                                .toList());
                assertThat(store.meta("s").orElseThrow().undoBytes())
                        .isEqualTo(live.cache().undoBytes());
                assertThat(back.cache().undoBytes()).isEqualTo(live.cache().undoBytes());
                if (r.nextBoolean()) live = back; // a restart: go on from what the store holds
            }
            assertThat(rollbacks).as("the random walk took turns back").isGreaterThan(5);
            // The stored undo records alone take the reloaded session back, turn by turn, to the shorter histories.
            Session back = store.load("s", SMALL, "model-fp").orElseThrow();
            int undoable = back.undoableTurns().size();
            assertThat(undoable)
                    .as("turns to take back (a rollback uses up marks)")
                    .isEqualTo(live.undoableTurns().size())
                    .isGreaterThan(0);
            for (int i = 0; i < undoable; i++) {
                back.rollback(1);
                history.removeLast();
                Caches.assertSameContents(replay(history, precision).cache(), back.cache());
            }
            assertThatThrownBy(() -> live0(store).rollback(KEEP + 1))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("cannot take back " + (KEEP + 1) + " turns");
        }
    }

    private static Session live0(SessionStore store) {
        return store.load("s", SMALL, "model-fp").orElseThrow();
    }

    /** One turn as the service applies it: mark, append, bookkeeping that differs per turn. */
    private static void apply(Session s, Step step, String turnId) {
        ConversationState before = s.conversation().copy();
        s.cache().mark(KEEP);
        RandomContext.append(s.cache(), step.tokens(), step.seed());
        List<Message> history = new ArrayList<>(before.history()); // as the model's own template keeps it
        history.add(Message.user("turn " + step.seed()));
        history.add(Message.assistant("reply to " + step.seed()));
        s.setConversation(
                new ConversationState(ModelChatTemplate.LABEL, "assistant", true, new int[] {step.tokens()}, history));
        s.turnMarked(turnId, "user", "text of " + turnId, true, before);
    }

    private static Session replay(List<Step> history, KvPrecision precision) {
        Session s = Caches.session("ref", SMALL, Caches.razor(SMALL, 3, WINDOW), precision, BLOCK);
        for (int i = 0; i < history.size(); i++) apply(s, history.get(i), "r" + i);
        return s;
    }

    /** FULL heads' blocks past the end and window blocks the window has left are gone after a rollback too. */
    @Test
    void aRollbackLeavesNoStaleBlocks(@TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session("b", SMALL, Caches.razor(SMALL, 3, WINDOW), KvPrecision.F16, BLOCK);
            apply(s, new Step(30, 1), "a");
            store.save(s, 1);
            apply(s, new Step(50, 2), "b");
            store.save(s, 2);
            s.rollback(1);
            store.save(s, 3);
            for (int l = 0; l < SMALL.blockCount(); l++) {
                for (int h = 0; h < SMALL.kvHeadCount(); h++) {
                    int blocks = SessionStoreTest.countBlocks(db, "b", l, h);
                    if (s.cache().compressed(l, h) == null) assertThat(blocks).isEqualTo((30 + BLOCK - 1) / BLOCK);
                    else
                        assertThat(blocks).isLessThanOrEqualTo((int) Math.ceil(WINDOW.window(30) / (double) BLOCK) + 1);
                }
            }
            assertThat(s.conversation().lastRole())
                    .as("the bookkeeping is back to before turn b")
                    .isEqualTo("assistant");
            assertThat(s.conversation().pendingTokens()).containsExactly(30);
        }
    }

    /**
     * A long turn over a wide window evicts megabytes' worth of entries: its undo record is stored in parts no larger
     * than {@link UndoRecordCodec#PART_BYTES} (Kafka refuses changelog records over about 1 MB) and loads back whole.
     */
    @Test
    void largeUndoRecordsAreStoredInBoundedParts(@TempDir Path dir) {
        WindowParams wide = new WindowParams(4, 600, 1_000_000);
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session("big", SMALL, Caches.razor(SMALL, 3, wide), KvPrecision.F32, BLOCK);
            apply(s, new Step(700, 1), "a");
            apply(s, new Step(700, 2), "b"); // evicts the 600 entries the window held at the mark
            store.save(s, 1);
            int[] parts = {0};
            long[] largest = {0};
            byte[] prefix = SessionKeys.undoPrefix("big");
            db.scan(prefix, SessionKeys.after(prefix), (k, v) -> {
                parts[0]++;
                largest[0] = Math.max(largest[0], v.length);
                return true;
            });
            assertThat(s.cache().undoBytes())
                    .as("the undo records' size")
                    .isGreaterThan(2L * UndoRecordCodec.PART_BYTES);
            assertThat(parts[0]).isGreaterThan(3);
            assertThat(largest[0]).isLessThanOrEqualTo(UndoRecordCodec.PART_BYTES + 64);
            Session back = store.load("big", SMALL, "model-fp").orElseThrow();
            back.rollback(1);
            s.rollback(1);
            Caches.assertSameContents(s.cache(), back.cache());
            store.save(back, 2);
            db.scan(prefix, SessionKeys.after(prefix), (k, v) -> {
                assertThat(SessionKeys.markOfUndo(k))
                        .as("the taken-back turn's parts are all gone")
                        .isZero();
                return true;
            });
        }
    }
}
