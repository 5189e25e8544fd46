package io.razorstream.engine.attention;

/**
 * What one (layer, KV head) of a cache keeps. Each kind owns its head implementation ({@link #newHead}), the
 * analytic size of what it keeps after a number of tokens ({@link #entries}, {@link #bytes}: the one formula
 * behind every size and compression figure), and the codec of its head-level state for the state store
 * ({@link #writeRecord}, {@link #readRecord}).
 *
 * <p>The store keeps positions of FULL heads, and the positions inside a WINDOW head's window, in blocks of its
 * own (append-only, so a save writes only what is new; see {@link #blockPositions}); everything else a head
 * holds is its record.
 */
public sealed interface HeadSpec {
    /** Every token (a retrieval head; the cache keeps these in its own arrays for the grouped attention kernel). */
    record Full() implements HeadSpec {}

    /** RazorAttention's non-retrieval head: sinks, a rolling window, one compensation token. */
    record Window(WindowParams params) implements HeadSpec {}

    /** H2O: at most {@code budget} tokens, the {@code recent} newest always among them. */
    record HeavyHitters(int budget, int recent) implements HeadSpec {
        public HeavyHitters {
            if (budget < 1 || recent < 0 || recent > budget) throw new IllegalArgumentException("H2O needs 0 <= recent <= budget, 1 <= budget");
        }
    }

    /** SnapKV: compressed once, at the end of the prompt, to {@code budget} tokens (the newest {@code window} among them). */
    record Snap(int budget, int window, int observe) implements HeadSpec {
        public Snap {
            if (budget < 1 || window < 0 || window > budget || observe < 1) {
                throw new IllegalArgumentException("SnapKV needs 0 <= window <= budget, 1 <= budget, 1 <= observe");
            }
        }
    }

    /** A head taken out of the model: nothing kept, zero output (`eval --mask-heads`, the influence profile). */
    record Masked() implements HeadSpec {}

    /** DuoAttention's gate between full and streaming attention: a profiling tool ({@link GatedHead}), kept whole. */
    record Gated(float gate, WindowParams streaming) implements HeadSpec {
        public Gated {
            if (!(gate >= 0 && gate <= 1)) throw new IllegalArgumentException("a gate must be in [0, 1], got " + gate);
        }
    }

    Full FULL = new Full();
    Masked MASKED = new Masked();

    /** A new, empty head of this kind, or null for FULL (the cache stores those itself). */
    default CompressedHead newHead(int headSize) {
        return switch (this) {
            case Full f -> null;
            case Window w -> new WindowHead(headSize, w.params());
            case HeavyHitters h -> new HeavyHitterHead(headSize, h.budget(), h.recent());
            case Snap s -> new SnapHead(headSize, s.budget(), s.window(), s.observe());
            case Masked m -> new MaskedHead(headSize);
            case Gated g -> new GatedHead(headSize, g.gate(), g.streaming());
        };
    }

    /**
     * Key (or value) vectors kept after {@code tokens} tokens, when the prompt ended after {@code promptTokens}
     * (-1: not yet; only SnapKV cares). A WINDOW head's compensation token is not one (see {@link #entries}).
     */
    default long kept(long tokens, long promptTokens) {
        return switch (this) {
            case Full f -> tokens;
            case Window w -> {
                long sinks = Math.min(tokens, w.params().sinks());
                yield sinks + Math.min(tokens - sinks, w.params().window(tokens));
            }
            case HeavyHitters h -> Math.min(tokens, h.budget());
            case Snap s -> promptTokens < 0 || tokens < promptTokens ? tokens : Math.min(promptTokens, s.budget()) + tokens - promptTokens;
            case Masked m -> 0;
            case Gated g -> tokens;
        };
    }

    /** Bytes kept after {@code tokens} tokens at {@code vectorBytes} per vector: the kept vectors, plus a WINDOW head's fp32 sums and count. */
    default long bytes(long tokens, long promptTokens, int headSize, int vectorBytes) {
        long bytes = kept(tokens, promptTokens) * 2 * vectorBytes;
        return compensating(tokens) ? bytes + headSize * 2L * Float.BYTES + Long.BYTES : bytes;
    }

    /** Entries as a head counts them ({@link CompressedHead#entries}): the kept vectors and a WINDOW head's compensation token. */
    default long entries(long tokens, long promptTokens) {
        return kept(tokens, promptTokens) + (compensating(tokens) ? 1 : 0);
    }

    /** Whether a WINDOW head holds a compensation token after {@code tokens} tokens (it has folded something in). */
    private boolean compensating(long tokens) {
        return this instanceof Window w && w.params().compensate() && tokens > kept(tokens, -1);
    }

    /**
     * The positions the store keeps in blocks after {@code tokens} tokens: [start, tokens) with start returned
     * here (0 for FULL, the window's first position for WINDOW), or -1 when the head has no block-stored positions.
     */
    default long blockPositions(long tokens) {
        return switch (this) {
            case Full f -> 0;
            case Window w -> tokens - (kept(tokens, -1) - Math.min(tokens, w.params().sinks()));
            case HeavyHitters h -> -1;
            case Snap s -> -1;
            case Masked m -> -1;
            case Gated g -> -1;
        };
    }

    /** Whether this is a model's own sliding window ({@link WindowParams#sliding}), not a policy's choice. */
    default boolean isSliding() {
        return this instanceof Window w && w.params().isSliding();
    }

    /** A short name for reports: full, window, sliding (a model's own window), h2o, snapkv, masked. */
    default String label() {
        return switch (this) {
            case Full f -> "full";
            case Window w -> isSliding() ? "sliding" : "window";
            case HeavyHitters h -> "h2o";
            case Snap s -> "snapkv";
            case Masked m -> "masked";
            case Gated g -> "gated";
        };
    }

    /** Writes what {@code head} holds beyond its block-stored positions (nothing for FULL). */
    default void writeRecord(CompressedHead head, HeadRecord.Writer out) {
        switch (this) {
            case Full f -> { }
            case Window w -> ((WindowHead) head).writeRecord(out);
            case HeavyHitters h -> ((HeavyHitterHead) head).writeRecord(out);
            case Snap s -> ((SnapHead) head).writeRecord(out);
            case Masked m -> { }
            case Gated g -> throw new UnsupportedOperationException("a gated head is a profiling tool: sessions do not store it");
        }
    }

    /**
     * The head as stored after {@code tokens} tokens: its record, and for WINDOW the keys and values of its block
     * positions ({@link #blockPositions} to {@code tokens}, oldest first); null for FULL.
     */
    default CompressedHead readRecord(int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
        return switch (this) {
            case Full f -> null;
            case Window w -> WindowHead.readRecord(headSize, w.params(), tokens, in, blockKeys, blockValues);
            case HeavyHitters h -> HeavyHitterHead.readRecord(headSize, h.budget(), h.recent(), in);
            case Snap s -> SnapHead.readRecord(headSize, s.budget(), s.window(), s.observe(), in);
            case Masked m -> new MaskedHead(headSize);
            case Gated g -> throw new UnsupportedOperationException("a gated head is a profiling tool: sessions do not store it");
        };
    }
}
