package io.razorstream.engine.attention;

/**
 * The window of a RazorAttention non-retrieval head (../shared/docs/RAZOR.md, section 4): the first {@code sinks}
 * tokens (N0), plus the most recent {@code L = max(minWindow, N / compression)} tokens of a sequence of N tokens (S0
 * and C in the paper), plus one compensation token for everything in between. {@code maxWindow} caps L: a session that
 * outgrew the model's context was shifted, and its windows must fit the positions that are left (see
 * {@code KvCache#shift}); otherwise it is unbounded.
 */
public record WindowParams(int sinks, int minWindow, int compression, boolean compensate, int maxWindow) {
    public WindowParams(int sinks, int minWindow, int compression, boolean compensate) {
        this(sinks, minWindow, compression, compensate, Integer.MAX_VALUE);
    }

    /** The paper's defaults: N0 = 4, S0 = 4000, C = 5. Small models want a smaller S0. */
    public static final WindowParams PAPER = new WindowParams(4, 4000, 5);

    /**
     * A model's own sliding window of {@code size} tokens (gemma's local layers): no sinks, no compensation, no growth
     * with the sequence; a query sees itself and the size - 1 tokens before it.
     */
    public static WindowParams sliding(int size) {
        return new WindowParams(0, size, Integer.MAX_VALUE, false);
    }

    /** Whether this is a model's sliding window ({@link #sliding}) rather than a RazorAttention window. */
    public boolean isSliding() {
        return sinks == 0 && !compensate && compression == Integer.MAX_VALUE;
    }

    /** With the compensation token (RazorAttention); see {@link #withoutCompensation()} for the ablation. */
    public WindowParams(int sinks, int minWindow, int compression) {
        this(sinks, minWindow, compression, true);
    }

    /** The same window, evicted tokens simply dropped (StreamingLLM, and Razor's no-compensation ablation). */
    public WindowParams withoutCompensation() {
        return new WindowParams(sinks, minWindow, compression, false, maxWindow);
    }

    /** The same window, L capped at {@code cap} (and at any cap it already had). */
    public WindowParams withMaxWindow(int cap) {
        return new WindowParams(sinks, minWindow, compression, compensate, Math.min(maxWindow, cap));
    }

    /** Whether L is capped (the session was shifted). */
    public boolean capped() {
        return maxWindow != Integer.MAX_VALUE;
    }

    public WindowParams {
        if (sinks < 0) throw new IllegalArgumentException("sinks must be >= 0, got " + sinks);
        if (minWindow < 1) throw new IllegalArgumentException("window must be >= 1, got " + minWindow);
        if (compression < 1) throw new IllegalArgumentException("compression must be >= 1, got " + compression);
        if (maxWindow < 1) throw new IllegalArgumentException("max window must be >= 1, got " + maxWindow);
    }

    /** L for a sequence of {@code tokens} tokens. */
    public int window(long tokens) {
        return (int) Math.min(maxWindow, Math.max(minWindow, tokens / compression));
    }

    /** The most entries a head holds after {@code tokens} tokens: sinks, window and the compensation token. */
    public long maxEntries(long tokens) {
        return sinks + window(tokens) + (compensate ? 1L : 0L);
    }
}
