package io.razorstream.engine.attention;

import java.lang.foreign.MemorySegment;

/**
 * The cache of one (layer, KV head) that keeps only part of the sequence. The model appends each token's
 * key and value, lets the token's queries attend, then calls {@link #endToken()}; so every token sees the
 * head as of itself, in a prefill batch as in decode.
 */
public interface CompressedHead {
    void append(float[] k, int kOff, float[] v, int vOff);

    /** Attention of one query over what the head keeps, into {@code out[outOff, outOff + headSize)}. */
    void attend(float[] q, int qOff, Scores scores, float[] out, int outOff);

    /**
     * {@link #attend} for a whole GQA group on the native tier: the {@code group} queries side by side in {@code q}
     * (rounded as the cache rounds), the outputs side by side into {@code out} from {@code outOff}. Returns false when
     * the head has no native form; then {@link #attend} runs per query head.
     */
    default boolean attendGroupNative(MemorySegment q, int group, Scores scores, NativeScratch scratch, MemorySegment out, long outOff) {
        return false;
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
}
