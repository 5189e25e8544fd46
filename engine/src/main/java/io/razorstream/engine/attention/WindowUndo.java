package io.razorstream.engine.attention;

import java.util.ArrayList;
import java.util.List;

/**
 * A window head's undo record for one turn mark: its counts and compensation sums at the mark, and the window entries
 * that were there at the mark and have been evicted since, oldest first (they are the head's only copy; the entries
 * appended since the mark need no record, a rollback drops them). Enough to restore the mark bit for bit. A record
 * stops growing when the next mark is made.
 */
public record WindowUndo(
        long tokens,
        int sinkCount,
        int windowCount,
        long evicted,
        float[] sumKeys,
        float[] sumValues,
        List<float[]> evictedKeys,
        List<float[]> evictedValues) {
    public WindowUndo {
        if (evictedKeys.size() != evictedValues.size())
            throw new IllegalArgumentException("evicted keys and values differ in count");
        if (evictedKeys.size() > windowCount) {
            throw new IllegalArgumentException(
                    evictedKeys.size() + " evicted entries for a window of " + windowCount + " at the mark");
        }
        evictedKeys = new ArrayList<>(evictedKeys);
        evictedValues = new ArrayList<>(evictedValues);
    }

    /** The record of a mark made now: nothing evicted since. */
    static WindowUndo at(
            long tokens, int sinkCount, int windowCount, long evicted, float[] sumKeys, float[] sumValues) {
        return new WindowUndo(
                tokens, sinkCount, windowCount, evicted, sumKeys.clone(), sumValues.clone(), List.of(), List.of());
    }

    /** Evicted entries held (each a key and a value). */
    public int entries() {
        return evictedKeys.size();
    }
}
