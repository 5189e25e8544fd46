package io.razorstream.engine.attention;

import java.lang.foreign.MemorySegment;

/**
 * The cache of one (layer, KV head) that keeps only part of the sequence. The model appends each token's key and value,
 * lets the token's queries attend, then calls {@link #endToken()}; so every token sees the head as of itself, in a
 * prefill batch as in decode.
 *
 * <p>Besides that, a head answers for itself what the cache and the store ask of it: its record for the store
 * ({@link #writeRecord}, read back by its {@link HeadSpec#readRecord}), its block-stored positions if its spec has any
 * ({@link #readBlocked}), whether it can take turns back and the undo records that takes ({@link #canUndo}), and its
 * part in a context shift ({@link #shift}).
 */
public interface CompressedHead {
    void append(float[] k, int kOff, float[] v, int vOff);

    /** Attention of one query over what the head keeps, into {@code out[outOff, outOff + headSize)}. */
    void attend(float[] q, int qOff, Scores scores, float[] out, int outOff);

    /** Whether the head has {@link #attendGroupNative}; without it, {@link #attend} runs per query head. */
    default boolean attendsGroupNatively() {
        return false;
    }

    /**
     * {@link #attend} for a whole GQA group on the native tier: the {@code group} queries side by side in {@code q}
     * (rounded as the cache rounds), the outputs side by side into {@code out} from {@code outOff}.
     */
    default void attendGroupNative(
            MemorySegment q, int group, Scores scores, NativeScratch scratch, MemorySegment out, long outOff) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " has no native group form");
    }

    /** The calling thread's scratch for a native kernel: at least {@code floats} floats. */
    @FunctionalInterface
    interface NativeScratch {
        MemorySegment floats(long floats);
    }

    /** After the current token's queries have attended (a policy that evicts by attention does it here). */
    default void endToken() {}

    /** The prompt has ended (a policy that compresses once, at that point, does it here). */
    default void endPrompt() {}

    /** Entries held (a compensation token counts as one); their size is {@link HeadSpec#bytes}'s to say. */
    int entries();

    /**
     * Writes what the head holds beyond its block-stored positions (the state store's head record), in a layout its
     * spec's {@link HeadSpec#readRecord} reads back. Throws UnsupportedOperationException for a head that is not
     * stored.
     */
    void writeRecord(HeadRecord.Writer out);

    /**
     * Copies the key and value of the {@code i}-th of the head's block-stored positions, oldest first (position
     * {@link HeadSpec#blockPositions}{@code (tokens) + i}): only for a head whose spec keeps positions in blocks.
     */
    default void readBlocked(int i, float[] k, int kOff, float[] v, int vOff) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " keeps no positions in blocks");
    }

    /**
     * Tokens appended so far, or -1 when the head does not count them (a restored head that does is checked against its
     * cache).
     */
    default long tokens() {
        return -1;
    }

    /**
     * Whether {@link #mark} and {@link #rollback} work (heads whose eviction depends on attention, the baselines,
     * cannot).
     */
    default boolean canUndo() {
        return false;
    }

    /**
     * Remembers the head as it is now, keeping the last {@code keep} such marks, so that {@link #rollback} can take
     * back exactly what was appended since. Heads whose eviction depends on attention (the baselines) cannot.
     */
    default void mark(int keep) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot take turns back");
    }

    /** Returns the head to its latest mark (which is then dropped), bit for bit. */
    default void rollback() {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot take turns back");
    }

    /** Undo records held: one per mark {@link #rollback} can return to. */
    default int undoMarks() {
        return 0;
    }

    /** Bytes the undo records keep, at {@code vectorBytes} per key or value vector. */
    default long undoBytes(int vectorBytes) {
        return 0;
    }

    /**
     * Writes the undo record of the {@code index}-th mark (oldest first) for the store; {@link #readUndo} reads it
     * back.
     */
    default void writeUndo(int index, HeadRecord.Writer out) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " keeps no undo records");
    }

    /**
     * Restoring from storage, after the head itself: reads the undo record of its next mark (oldest first) and keeps it
     * as its newest. Throws IllegalArgumentException for a record that does not fit the head.
     */
    default void readUndo(HeadRecord.Reader in) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " keeps no undo records");
    }

    /**
     * Context shift ({@link KvCache#shift}): the head becomes what {@link HeadSpec#shifted} says for {@code keep}
     * recent tokens, folding out what no longer fits, its kept keys re-rotated by {@code rotation} and rounded again to
     * {@code precision}; its marks are dropped. Only for heads whose spec {@link HeadSpec#canShift}.
     */
    default void shift(int keep, KeyRotation rotation, int layer, KvPrecision precision) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot be shifted");
    }
}
