package io.razorstream.store;

import org.apache.kafka.streams.state.RocksDBConfigSetter;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.BloomFilter;
import org.rocksdb.CompressionType;
import org.rocksdb.Filter;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;

import java.util.Map;

/**
 * RocksDB settings for session caches. The access pattern: a turn appends a few blocks of a few KB per head and
 * rewrites one small metadata record; a session is read whole (one range scan) when it is not hot in memory; blocks of
 * evicted window tokens are deleted.
 *
 * <ul>
 *   <li>Blocks are fp16/int8 numbers, which general-purpose compression barely shrinks: LZ4 (cheap) for the upper
 *       levels, ZSTD only at the bottom where data settles.
 *   <li>One block cache for every store of the process (64 MB): the hot sessions live decoded in the service's own
 *       memory, so RocksDB's cache only needs index/filter blocks and recently loaded data.
 *   <li>16 KB table blocks (several cache blocks per read of a head's blocks), bloom filters for the point reads of
 *       metadata records, and 32 MB write buffers: appends arrive in bursts of one turn.
 * </ul>
 *
 * Kafka Streams picks it up with {@code rocksdb.config.setter=SessionRocksConfig}.
 */
public final class SessionRocksConfig implements RocksDBConfigSetter {
    /** Shared by every store in the process; never closed by a store (it outlives them). */
    private static final LRUCache BLOCK_CACHE = new LRUCache(64L << 20);

    private Filter filter;

    @Override
    public void setConfig(String storeName, Options options, Map<String, Object> configs) {
        filter = tune(options);
    }

    /** Applies the settings; returns the bloom filter, which the caller closes with the options. */
    static Filter tune(Options options) {
        BlockBasedTableConfig table =
                options.tableFormatConfig() instanceof BlockBasedTableConfig b ? b : new BlockBasedTableConfig();
        table.setBlockCache(BLOCK_CACHE);
        table.setBlockSize(16 * 1024);
        table.setCacheIndexAndFilterBlocks(true);
        Filter bloom = new BloomFilter(10);
        table.setFilterPolicy(bloom);
        options.setTableFormatConfig(table);
        options.setCompressionType(CompressionType.LZ4_COMPRESSION);
        options.setBottommostCompressionType(CompressionType.ZSTD_COMPRESSION);
        options.setWriteBufferSize(32L << 20);
        options.setMaxWriteBufferNumber(3);
        return bloom;
    }

    @Override
    public void close(String storeName, Options options) {
        // The cache is shared (see BLOCK_CACHE); the bloom filter is this store's.
        if (filter != null) filter.close();
    }
}
