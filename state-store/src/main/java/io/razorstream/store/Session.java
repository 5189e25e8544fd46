package io.razorstream.store;

import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.ConversationState;
import io.razorstream.engine.kv.KvPolicy;
import io.razorstream.engine.kv.KvCache;
import io.razorstream.engine.kv.KvPrecision;
import io.razorstream.engine.llama.LlamaConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One conversation in memory: its KV cache plus the bookkeeping that is stored beside it. The store
 * remembers how much of it is already persisted, so that saving after a turn writes only what changed.
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

    // What the store holds for this session (maintained by SessionStore).
    boolean stored;
    int persistedTokens;
    long persistedPromptEnd = -1;
    int persistedShifts;

    Session(String id, KvCache cache, String modelFingerprint, String profileFingerprint, int blockSize) {
        SessionKeys.idBytes(id);
        this.id = id;
        this.cache = cache;
        this.modelFingerprint = modelFingerprint;
        this.profileFingerprint = profileFingerprint;
        this.blockSize = blockSize;
    }

    /** A new, empty session whose cache follows {@code policy} (any head specs: the store persists them all). */
    public static Session create(String id, LlamaConfig config, KvPolicy policy, KvPrecision precision, String modelFingerprint,
                                 String profileFingerprint, int blockSize) {
        if (blockSize < 1 || blockSize > 65535) throw new IllegalArgumentException("block size must be in [1, 65535], got " + blockSize);
        return new Session(id, new KvCache(config, config.contextLength(), precision, policy), modelFingerprint, profileFingerprint, blockSize);
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

    /** An applied turn not saved yet (the store has the rest: {@link SessionRepository#appliedTurn}). */
    Optional<AppliedTurn> unsavedTurn(String turnId) {
        for (AppliedTurn t : unsavedTurns) if (t.turnId().equals(turnId)) return Optional.of(t);
        return Optional.empty();
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

    public long lastActivityMillis() {
        return lastActivityMillis;
    }

    void touch(long nowMillis) {
        lastActivityMillis = Math.max(lastActivityMillis, nowMillis);
    }

    SessionMeta meta() {
        ChatTemplate template = conversation.template();
        return new SessionMeta(id, modelFingerprint, profileFingerprint, cache.precision(), cache.policy(), blockSize, cache.size(), cache.promptEnd(),
                template == null ? "" : template.label(), conversation.pendingTokens(), conversation.lastRole(), conversation.afterReply(), turnsApplied, lastActivityMillis,
                cache.positionOffset(), cache.shifts());
    }

    void restoreBookkeeping(SessionMeta meta) {
        conversation = new ConversationState(meta.chatTemplate().isEmpty() ? null : ChatTemplate.named(meta.chatTemplate()), meta.lastRole(),
                meta.afterReply(), meta.pendingTokens());
        turnsApplied = meta.turnsApplied();
        lastActivityMillis = meta.lastActivityMillis();
    }
}
