package io.razorstream.app.stream;

import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.proto.v1.CacheStats;

/** A session's cache figures as the API reports them, from a live cache or from stored metadata alike. */
public final class CacheFigures {
    private CacheFigures() {}

    /**
     * {@code kvBytes} kept where an ordinary cache would keep {@code fullBytes} (the ratio is 1 for an empty session),
     * and {@code undoBytes} more to take back the last {@code undoableTurns} turns.
     */
    public static CacheStats of(
            int tokens,
            long kvBytes,
            long fullBytes,
            int positionOffset,
            int shifts,
            long undoBytes,
            int undoableTurns) {
        return CacheStats.newBuilder()
                .setTokens(tokens)
                .setKvBytes(kvBytes)
                .setFullKvBytes(fullBytes)
                .setCompressionRatio(KvPolicy.compressionRatio(fullBytes, kvBytes))
                .setPosition(tokens - positionOffset)
                .setShifts(shifts)
                .setUndoBytes(undoBytes)
                .setUndoableTurns(undoableTurns)
                .build();
    }
}
