package io.razorstream.store;

import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * The layout read through Kafka Streams interactive queries (for GetSession, ListSessions): reads only; every change
 * goes through the turns topic and the processor that owns the session.
 */
public final class ReadOnlyStreamsBackend implements StoreBackend {
    private final ReadOnlyKeyValueStore<Bytes, byte[]> store;

    public ReadOnlyStreamsBackend(ReadOnlyKeyValueStore<Bytes, byte[]> store) {
        this.store = store;
    }

    @Override
    public byte[] get(byte[] key) {
        return store.get(Bytes.wrap(key));
    }

    @Override
    public void scan(byte[] from, byte[] to, Visitor visitor) {
        try (KeyValueIterator<Bytes, byte[]> it = store.range(Bytes.wrap(from), Bytes.wrap(to))) {
            while (it.hasNext()) {
                KeyValue<Bytes, byte[]> kv = it.next();
                if (Bytes.BYTES_LEXICO_COMPARATOR.compare(kv.key.get(), to) >= 0)
                    continue; // range() includes `to`; another store may follow
                if (!visitor.visit(kv.key.get(), kv.value)) break;
            }
        }
    }

    @Override
    public void write(WriteBatchBuilder batch) {
        throw new UnsupportedOperationException("read-only view of the session store");
    }
}
