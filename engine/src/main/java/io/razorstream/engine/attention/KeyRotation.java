package io.razorstream.engine.attention;

/**
 * Re-rotates one cached key ({@code headSize} floats from {@code offset}) of {@code layer} by a fixed position
 * difference: RoPE is a rotation per pair, so a key rotated for position p, rotated again by -d, is the key for p - d
 * (up to float rounding). The model knows its rope (style, bases per layer, frequency factors); the cache applies it.
 */
@FunctionalInterface
public interface KeyRotation {
    void rotate(int layer, float[] key, int offset);
}
