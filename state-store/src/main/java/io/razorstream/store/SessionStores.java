package io.razorstream.store;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

import java.util.Map;
import java.util.Properties;

/** Kafka Streams plumbing for the session store: the store builder and the Streams settings it wants. */
public final class SessionStores {
    private SessionStores() {}

    /**
     * A persistent (RocksDB), changelogged key-value store for session caches. Caching is off: a turn's blocks are
     * written once and read back rarely, so the record cache would only hold big values twice.
     */
    public static StoreBuilder<KeyValueStore<Bytes, byte[]>> builder(String name) {
        return Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(name), Serdes.Bytes(), Serdes.ByteArray())
                .withCachingDisabled()
                .withLoggingEnabled(Map.of());
    }

    /** Adds the RocksDB tuning for session stores to Streams properties. */
    public static Properties withRocksConfig(Properties props) {
        props.put(StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG, SessionRocksConfig.class);
        return props;
    }
}
