package io.razorstream.engine.attention;

/**
 * Sees the attention probabilities of every (layer, query head, position) of a forward pass over FULL heads:
 * {@code probabilities[j]} for key positions {@code j < length} (absolute positions, the softmax as computed, before
 * any F16 rounding), and the values they weight: the FULL head's cache, position p at {@code values[p * headSize ...]}
 * (read only). Called from several threads at once.
 */
@FunctionalInterface
public interface AttentionObserver {
    void observe(int layer, int head, int position, float[] probabilities, int length, float[] values);
}
