package io.razorstream.store;

/**
 * The ordered key-value store underneath: RocksDB directly ({@link RocksBackend}) or a Kafka Streams store
 * ({@link StreamsStoreBackend}). Keys compare as unsigned bytes.
 */
public interface StoreBackend {
    /** The value under {@code key}, or null. */
    byte[] get(byte[] key);

    /** Visits the entries with {@code from <= key < to} in key order until the visitor returns false. */
    void scan(byte[] from, byte[] to, Visitor visitor);

    /** Applies every change of {@code batch} at once: after a crash either all of it is there or none. */
    void write(WriteBatchBuilder batch);

    @FunctionalInterface
    interface Visitor {
        boolean visit(byte[] key, byte[] value);
    }
}
