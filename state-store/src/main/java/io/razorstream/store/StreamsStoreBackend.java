package io.razorstream.store;

import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.state.KeyValueStore;

import java.util.ArrayList;
import java.util.List;

/**
 * The layout on a Kafka Streams key-value store (RocksDB underneath, changelogged). A batch's puts go in one
 * {@code putAll} (one RocksDB write batch); deletes become tombstones, so they reach the changelog too. Under
 * exactly_once_v2 the whole turn commits, or not, with the task's transaction.
 */
public final class StreamsStoreBackend implements StoreBackend {
    private final KeyValueStore<Bytes, byte[]> store;
    private final ReadOnlyStreamsBackend reads;

    public StreamsStoreBackend(KeyValueStore<Bytes, byte[]> store) {
        this.store = store;
        this.reads = new ReadOnlyStreamsBackend(store);
    }

    @Override
    public byte[] get(byte[] key) {
        return reads.get(key);
    }

    @Override
    public void scan(byte[] from, byte[] to, Visitor visitor) {
        reads.scan(from, to, visitor);
    }

    @Override
    public void write(WriteBatchBuilder batch) {
        List<KeyValue<Bytes, byte[]>> entries = new ArrayList<>();
        for (WriteBatchBuilder.Op op : batch.ops()) {
            switch (op) {
                case WriteBatchBuilder.Put p -> entries.add(KeyValue.pair(Bytes.wrap(p.key()), p.value()));
                case WriteBatchBuilder.Delete d -> entries.add(KeyValue.pair(Bytes.wrap(d.key()), null));
                case WriteBatchBuilder.DeleteRange r ->
                    scan(r.from(), r.to(), (k, v) -> entries.add(KeyValue.pair(Bytes.wrap(k), null)));
            }
        }
        store.putAll(entries);
    }
}
