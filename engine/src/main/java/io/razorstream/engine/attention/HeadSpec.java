package io.razorstream.engine.attention;

/**
 * What one (layer, KV head) of a cache keeps: a record whose kind decides its own behaviour. A kind makes its head
 * ({@link #newHead}), gives the analytic size of what it keeps after a number of tokens ({@link #kept},
 * {@link #entries}, {@link #bytes}: the one formula behind every size and compression figure), reads its head back from
 * the state store ({@link #readRecord}; the head writes it, {@link CompressedHead#writeRecord}) and says what it does
 * in a context shift ({@link #canShift}, {@link #shifted}).
 *
 * <p>The interface is open: a new cache policy is one record implementing it and one {@link CompressedHead}. The state
 * store persists a spec from its record components (primitives, strings, enums, nested records), so a spec must be a
 * record, equal to any other with the same components.
 *
 * <p>The store keeps positions of FULL heads, and the positions inside a WINDOW head's window, in blocks of its own
 * (append-only, so a save writes only what is new; see {@link #blockPositions}); everything else a head holds is its
 * record.
 */
public interface HeadSpec {
    /** Every token (a retrieval head; the cache keeps these in its own arrays for the grouped attention kernel). */
    record Full() implements HeadSpec {
        @Override
        public CompressedHead newHead(int headSize) {
            return null;
        }

        @Override
        public long kept(long tokens, long promptTokens) {
            return tokens;
        }

        @Override
        public long blockPositions(long tokens) {
            return 0;
        }

        @Override
        public String label() {
            return "full";
        }

        @Override
        public CompressedHead readRecord(
                int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
            return null;
        }

        @Override
        public boolean canShift(int sinks) {
            return true;
        }

        /**
         * A window head of exactly {@code keep} recent tokens besides the sinks, with a compensation token for the rest
         * (RazorAttention's mechanism).
         */
        @Override
        public HeadSpec shifted(int sinks, int keep) {
            return new Window(new WindowParams(sinks, keep, Integer.MAX_VALUE, true, keep));
        }
    }

    /** RazorAttention's non-retrieval head: sinks, a rolling window, one compensation token. */
    record Window(WindowParams params) implements HeadSpec {
        @Override
        public CompressedHead newHead(int headSize) {
            return new WindowHead(headSize, params);
        }

        /** A WINDOW head's compensation token is not a kept vector (see {@link #entries}). */
        @Override
        public long kept(long tokens, long promptTokens) {
            long sinks = Math.min(tokens, params.sinks());
            return sinks + Math.min(tokens - sinks, params.window(tokens));
        }

        /** The kept vectors and the compensation token once it holds something. */
        @Override
        public long entries(long tokens, long promptTokens) {
            return kept(tokens, promptTokens) + (compensating(tokens) ? 1 : 0);
        }

        /** The kept vectors, plus the compensation token's fp32 sums and count once it holds something. */
        @Override
        public long bytes(long tokens, long promptTokens, int headSize, int vectorBytes) {
            long bytes = kept(tokens, promptTokens) * 2 * vectorBytes;
            return compensating(tokens) ? bytes + headSize * 2L * Float.BYTES + Long.BYTES : bytes;
        }

        /** Whether the head holds a compensation token after {@code tokens} tokens (it has folded something in). */
        private boolean compensating(long tokens) {
            return params.compensate() && tokens > kept(tokens, -1);
        }

        /** The window's first position. */
        @Override
        public long blockPositions(long tokens) {
            return tokens - (kept(tokens, -1) - Math.min(tokens, params.sinks()));
        }

        @Override
        public boolean isSliding() {
            return params.isSliding();
        }

        @Override
        public String label() {
            return isSliding() ? "sliding" : "window";
        }

        @Override
        public CompressedHead readRecord(
                int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
            return WindowHead.readRecord(headSize, params, tokens, in, blockKeys, blockValues);
        }

        @Override
        public int shiftSinks() {
            return params.sinks();
        }

        @Override
        public boolean canShift(int sinks) {
            return params.sinks() <= sinks;
        }

        /** The same window, capped at {@code keep} ({@link WindowHead#shift} folds what no longer fits). */
        @Override
        public HeadSpec shifted(int sinks, int keep) {
            return new Window(params.withMaxWindow(keep));
        }
    }

    /** H2O: at most {@code budget} tokens, the {@code recent} newest always among them. */
    record HeavyHitters(int budget, int recent) implements HeadSpec {
        public HeavyHitters {
            if (budget < 1 || recent < 0 || recent > budget)
                throw new IllegalArgumentException("H2O needs 0 <= recent <= budget, 1 <= budget");
        }

        @Override
        public CompressedHead newHead(int headSize) {
            return new HeavyHitterHead(headSize, budget, recent);
        }

        @Override
        public long kept(long tokens, long promptTokens) {
            return Math.min(tokens, budget);
        }

        @Override
        public String label() {
            return "h2o";
        }

        @Override
        public CompressedHead readRecord(
                int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
            return HeavyHitterHead.readRecord(headSize, budget, recent, in);
        }
    }

    /**
     * SnapKV: compressed once, at the end of the prompt, to {@code budget} tokens (the newest {@code window} among
     * them).
     */
    record Snap(int budget, int window, int observe) implements HeadSpec {
        public Snap {
            if (budget < 1 || window < 0 || window > budget || observe < 1) {
                throw new IllegalArgumentException("SnapKV needs 0 <= window <= budget, 1 <= budget, 1 <= observe");
            }
        }

        @Override
        public CompressedHead newHead(int headSize) {
            return new SnapHead(headSize, budget, window, observe);
        }

        @Override
        public long kept(long tokens, long promptTokens) {
            return promptTokens < 0 || tokens < promptTokens
                    ? tokens
                    : Math.min(promptTokens, budget) + tokens - promptTokens;
        }

        @Override
        public String label() {
            return "snapkv";
        }

        @Override
        public CompressedHead readRecord(
                int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
            return SnapHead.readRecord(headSize, budget, window, observe, in);
        }
    }

    /** A head taken out of the model: nothing kept, zero output (`eval --mask-heads`, the influence profile). */
    record Masked() implements HeadSpec {
        @Override
        public CompressedHead newHead(int headSize) {
            return new MaskedHead(headSize);
        }

        @Override
        public long kept(long tokens, long promptTokens) {
            return 0;
        }

        @Override
        public String label() {
            return "masked";
        }

        @Override
        public CompressedHead readRecord(
                int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
            return new MaskedHead(headSize);
        }
    }

    /** DuoAttention's gate between full and streaming attention: a profiling tool ({@link GatedHead}), kept whole. */
    record Gated(float gate, WindowParams streaming) implements HeadSpec {
        public Gated {
            if (!(gate >= 0 && gate <= 1)) throw new IllegalArgumentException("a gate must be in [0, 1], got " + gate);
        }

        @Override
        public CompressedHead newHead(int headSize) {
            return new GatedHead(headSize, gate, streaming);
        }

        @Override
        public long kept(long tokens, long promptTokens) {
            return tokens;
        }

        @Override
        public String label() {
            return "gated";
        }

        @Override
        public CompressedHead readRecord(
                int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
            throw new UnsupportedOperationException("a gated head is a profiling tool: sessions do not store it");
        }
    }

    Full FULL = new Full();
    Masked MASKED = new Masked();

    /** A new, empty head of this kind, or null for FULL (the cache stores those itself). */
    CompressedHead newHead(int headSize);

    /**
     * Key (or value) vectors kept after {@code tokens} tokens, when the prompt ended after {@code promptTokens} (-1:
     * not yet; only SnapKV cares). A WINDOW head's compensation token is not one (see {@link #entries}).
     */
    long kept(long tokens, long promptTokens);

    /**
     * Entries as a head counts them ({@link CompressedHead#entries}): the kept vectors, and whatever else a kind counts
     * (a WINDOW head's compensation token).
     */
    default long entries(long tokens, long promptTokens) {
        return kept(tokens, promptTokens);
    }

    /**
     * Bytes kept after {@code tokens} tokens at {@code vectorBytes} per vector: the kept vectors, and whatever else a
     * kind keeps (a WINDOW head's fp32 sums and count).
     */
    default long bytes(long tokens, long promptTokens, int headSize, int vectorBytes) {
        return kept(tokens, promptTokens) * 2 * vectorBytes;
    }

    /**
     * The positions the store keeps in blocks after {@code tokens} tokens: [start, tokens) with start returned here (0
     * for FULL, the window's first position for WINDOW), or -1 when the head has no block-stored positions (its record
     * holds it all). A compressed head with block-stored positions reads them out with
     * {@link CompressedHead#readBlocked} and gets them back in {@link #readRecord}.
     */
    default long blockPositions(long tokens) {
        return -1;
    }

    /** Whether this is a model's own sliding window ({@link WindowParams#sliding}), not a policy's choice. */
    default boolean isSliding() {
        return false;
    }

    /**
     * A short name for reports: full, window, sliding (a model's own window), h2o, snapkv, masked, gated, or a new
     * kind's own.
     */
    String label();

    /**
     * The head as stored after {@code tokens} tokens: its record ({@link CompressedHead#writeRecord}), and the keys and
     * values of its block positions ({@link #blockPositions} to {@code tokens}, oldest first; empty when it has none);
     * null for FULL. Throws IllegalArgumentException for a record that does not fit.
     */
    CompressedHead readRecord(int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues);

    /** Sinks a context shift must keep in place for this head (0: it has none of its own). */
    default int shiftSinks() {
        return 0;
    }

    /**
     * Whether a context shift keeping {@code sinks} sinks can run on this head (heads that evict by attention cannot).
     */
    default boolean canShift(int sinks) {
        return false;
    }

    /**
     * What this head becomes in a context shift that keeps {@code sinks} sinks and the {@code keep} most recent tokens
     * after them ({@link KvCache#shift}); its head follows with {@link CompressedHead#shift}. Only when
     * {@link #canShift}.
     */
    default HeadSpec shifted(int sinks, int keep) {
        throw new UnsupportedOperationException(label() + " heads cannot be shifted");
    }
}
