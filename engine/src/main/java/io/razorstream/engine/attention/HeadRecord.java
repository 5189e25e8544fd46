package io.razorstream.engine.attention;

/**
 * The head-level state of a compressed head as the state store keeps it, one record per (layer, KV head): the head's
 * {@link HeadSpec} writes and reads it through these, the store supplies the bytes (scalars little-endian, key and
 * value vectors at the session's precision).
 */
public final class HeadRecord {
    private HeadRecord() {}

    /** Where a head writes its record. */
    public interface Writer {
        void putInt(int v);

        void putLong(long v);

        void putFloat(float v);

        void putDouble(double v);

        /** One key or value vector of {@code headSize} floats from {@code a[off...]}, at the session's precision. */
        void putVector(float[] a, int off);
    }

    /** Where a head reads its record back (in the order it was written). */
    public interface Reader {
        int getInt();

        long getLong();

        float getFloat();

        double getDouble();

        void getVector(float[] a, int off);
    }
}
