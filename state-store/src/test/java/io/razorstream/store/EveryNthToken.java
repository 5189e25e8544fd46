package io.razorstream.store;

import io.razorstream.engine.attention.CompressedHead;
import io.razorstream.engine.attention.HeadRecord;
import io.razorstream.engine.attention.HeadSpec;

/**
 * A toy cache policy, defined here to show that a new policy is one spec and one head ({@link EveryNthTokenHead}): a
 * head keeps the tokens at positions 0, n, 2n, ... and its newest token. Nothing in the engine or the store knows it.
 */
record EveryNthToken(int n) implements HeadSpec {
    EveryNthToken {
        if (n < 1) throw new IllegalArgumentException("n must be >= 1, got " + n);
    }

    @Override
    public CompressedHead newHead(int headSize) {
        return new EveryNthTokenHead(headSize, n);
    }

    /** Positions 0, n, 2n, ... below {@code tokens}, and the newest when it is not one of them. */
    @Override
    public long kept(long tokens, long promptTokens) {
        if (tokens == 0) return 0;
        return (tokens - 1) / n + 1 + ((tokens - 1) % n != 0 ? 1 : 0);
    }

    @Override
    public String label() {
        return "every-" + n + "th";
    }

    @Override
    public CompressedHead readRecord(
            int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
        EveryNthTokenHead head = EveryNthTokenHead.read(headSize, n, in);
        if (head.tokens() != tokens || head.entries() != kept(tokens, -1)) {
            throw new IllegalArgumentException("every-nth head of " + head.tokens() + " tokens and " + head.entries()
                    + " rows, for " + tokens + " tokens");
        }
        return head;
    }
}
