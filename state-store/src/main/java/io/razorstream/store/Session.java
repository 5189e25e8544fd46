package io.razorstream.store;

import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.chat.ConversationState;
import io.razorstream.engine.model.ModelConfig;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One conversation in memory: its KV cache plus the bookkeeping that is stored beside it. The store remembers how much
 * of it is already persisted, so that saving after a turn writes only what changed.
 */
public final class Session {
    /** The longest session id the key layout takes, in UTF-8 bytes. */
    public static final int MAX_ID_BYTES = 256;

    private final String id;
    private final KvCache cache;
    private final String modelFingerprint, profileFingerprint;
    private final int blockSize;
    private ConversationState conversation = new ConversationState();
    private long turnsApplied;
    private final List<AppliedTurn> unsavedTurns = new ArrayList<>(); // applied since the last save
    private long lastActivityMillis;
    /** The turns that can be taken back, newest first; one per mark of the cache (the same count, always). */
    private final ArrayDeque<TurnMark> marks = new ArrayDeque<>();

    private final ArrayDeque<String> recentTurnIds = new ArrayDeque<>(); // newest first
    private long nextMarkSeq;

    // What the store holds for this session (maintained by SessionStore).
    boolean stored;
    int persistedTokens;
    long persistedPromptEnd = -1;
    int persistedShifts;
    /** The newest mark whose undo record is stored; the stored marks dropped since the last save (their records go). */
    long persistedMarkSeq = -1;

    final List<Long> droppedMarks = new ArrayList<>();
    /** The smallest size a rollback took the cache to since the last save (-1: none): blocks from there are stale. */
    int rolledBackTo = -1;

    /**
     * A turn that can be taken back ({@link #rollback}): its undo record's number in the store, its turn id, the
     * message as it was sent (a regenerate sends it again), whether it asked for a reply, and the conversation's
     * bookkeeping before it.
     */
    public record TurnMark(
            long seq, String turnId, String role, String text, boolean replied, ConversationState before) {}

    Session(String id, KvCache cache, String modelFingerprint, String profileFingerprint, int blockSize) {
        SessionKeys.idBytes(id);
        this.id = id;
        this.cache = cache;
        this.modelFingerprint = modelFingerprint;
        this.profileFingerprint = profileFingerprint;
        this.blockSize = blockSize;
    }

    /** A new, empty session whose cache follows {@code policy} (any head specs: the store persists them all). */
    public static Session create(
            String id,
            ModelConfig config,
            KvPolicy policy,
            KvPrecision precision,
            String modelFingerprint,
            String profileFingerprint,
            int blockSize) {
        if (blockSize < 1 || blockSize > 65535)
            throw new IllegalArgumentException("block size must be in [1, 65535], got " + blockSize);
        return new Session(
                id,
                new KvCache(config.cacheShape(), config.contextLength(), precision, policy),
                modelFingerprint,
                profileFingerprint,
                blockSize);
    }

    public String id() {
        return id;
    }

    public KvCache cache() {
        return cache;
    }

    public int tokens() {
        return cache.size();
    }

    public String modelFingerprint() {
        return modelFingerprint;
    }

    public String profileFingerprint() {
        return profileFingerprint;
    }

    public int blockSize() {
        return blockSize;
    }

    /** The conversation's bookkeeping beside the cache (last role, pending token), which the engine's turns update. */
    public ConversationState conversation() {
        return conversation;
    }

    /** Replaces the bookkeeping (as it was stored, or to start a conversation over). */
    public void setConversation(ConversationState state) {
        this.conversation = state;
    }

    /**
     * An applied turn not saved yet, its latest version (the store has the rest:
     * {@link SessionRepository#appliedTurn}).
     */
    Optional<AppliedTurn> unsavedTurn(String turnId) {
        for (int i = unsavedTurns.size() - 1; i >= 0; i--)
            if (unsavedTurns.get(i).turnId().equals(turnId)) return Optional.of(unsavedTurns.get(i));
        return Optional.empty();
    }

    /** A turn applied before, now taken back: its record is rewritten as such with the next save (the count stays). */
    public void recordTakenBack(AppliedTurn turn) {
        unsavedTurns.add(turn.takenBack());
    }

    /** Remembers an applied turn for the session's life (written with the next save). */
    public void recordTurn(AppliedTurn turn) {
        unsavedTurns.add(turn);
        turnsApplied++;
    }

    /** How many turn ids have been applied to this session, ever. */
    public long turnsApplied() {
        return turnsApplied;
    }

    List<AppliedTurn> takeUnsavedTurns() {
        List<AppliedTurn> out = List.copyOf(unsavedTurns);
        unsavedTurns.clear();
        return out;
    }

    /**
     * The cache was marked and a turn applied on top ({@code before}: the bookkeeping before it). The marks the cache
     * has dropped since (past the undo limit, or all of them by a context shift) are forgotten here too.
     */
    public void turnMarked(String turnId, String role, String text, boolean replied, ConversationState before) {
        marks.addFirst(new TurnMark(nextMarkSeq++, turnId, role, text, replied, before.copy()));
        trimMarks();
    }

    /**
     * A turn ran on the session: its id is remembered among the last {@code keep} (newest first; see
     * {@link #recentTurnIds}).
     */
    public void turnRan(String turnId, int keep) {
        recentTurnIds.addFirst(turnId);
        while (recentTurnIds.size() > Math.max(1, keep)) recentTurnIds.removeLast();
    }

    /** The ids of the last turns run on the session, newest first (taken-back turns removed). */
    public List<String> recentTurnIds() {
        return List.copyOf(recentTurnIds);
    }

    private void trimMarks() {
        while (marks.size() > cache.marks()) drop(marks.removeLast());
    }

    private void drop(TurnMark m) {
        if (m.seq() <= persistedMarkSeq) droppedMarks.add(m.seq());
    }

    /** The turns {@link #rollback} can take back, newest first. */
    public List<TurnMark> undoableTurns() {
        trimMarks(); // a shift on the cache alone (not through a turn) drops them too
        return List.copyOf(marks);
    }

    /**
     * Takes back the last {@code turns} turns: the cache bit for bit as it was before them, the bookkeeping too.
     * Returns the turns taken back, newest first. Throws IllegalArgumentException, with nothing changed, when fewer can
     * be.
     */
    public List<TurnMark> rollback(int turns) {
        trimMarks();
        if (turns < 1 || turns > marks.size()) {
            throw new IllegalArgumentException(
                    "cannot take back " + turns + " turn" + (turns == 1 ? "" : "s") + ": " + marks.size() + " can be");
        }
        cache.rollback(turns);
        List<TurnMark> undone = new ArrayList<>();
        for (int i = 0; i < turns; i++) {
            TurnMark m = marks.removeFirst();
            recentTurnIds.remove(m.turnId());
            drop(m);
            undone.add(m);
        }
        conversation = undone.get(undone.size() - 1).before().copy();
        rolledBackTo = rolledBackTo < 0 ? cache.size() : Math.min(rolledBackTo, cache.size());
        return undone;
    }

    /** The marks as stored (oldest first), after the cache got its own back. */
    void restoreMarks(List<TurnMark> oldestFirst) {
        marks.clear();
        for (TurnMark m : oldestFirst) marks.addFirst(m);
        long newest = marks.isEmpty() ? -1 : marks.peekFirst().seq();
        persistedMarkSeq = newest;
        nextMarkSeq = newest + 1;
    }

    long nextMarkSeq() {
        return nextMarkSeq;
    }

    public long lastActivityMillis() {
        return lastActivityMillis;
    }

    void touch(long nowMillis) {
        lastActivityMillis = Math.max(lastActivityMillis, nowMillis);
    }

    SessionMeta meta() {
        String template = conversation.template();
        return new SessionMeta(
                id,
                modelFingerprint,
                profileFingerprint,
                cache.precision(),
                cache.policy(),
                blockSize,
                cache.size(),
                cache.promptEnd(),
                template == null ? "" : template,
                conversation.pendingTokens(),
                conversation.lastRole(),
                conversation.afterReply(),
                turnsApplied,
                lastActivityMillis,
                cache.positionOffset(),
                cache.shifts(),
                cache.undoBytes(),
                undoableTurns().size(),
                recentTurnIds(),
                conversation.history());
    }

    void restoreBookkeeping(SessionMeta meta) {
        conversation = new ConversationState(
                meta.chatTemplate(), meta.lastRole(), meta.afterReply(), meta.pendingTokens(), meta.history());
        turnsApplied = meta.turnsApplied();
        lastActivityMillis = meta.lastActivityMillis();
        recentTurnIds.clear();
        recentTurnIds.addAll(meta.recentTurnIds());
    }
}
