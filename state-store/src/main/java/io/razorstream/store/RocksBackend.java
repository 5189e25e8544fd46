package io.razorstream.store;

import org.rocksdb.Filter;
import org.rocksdb.FlushOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** The layout straight on rocksdbjni, for tools, tests and benchmarks; each batch is one RocksDB WriteBatch. */
public final class RocksBackend implements StoreBackend, AutoCloseable {
    static {
        RocksDB.loadLibrary();
    }

    private final Path dir;
    private final Options options;
    private final Filter filter;
    private final RocksDB db;
    private final WriteOptions writeOptions;
    private long lastBatchDataSize;

    /** Opens (creating if needed) a RocksDB database in {@code dir}; {@code sync} fsyncs every batch. */
    public RocksBackend(Path dir, boolean sync) {
        this.dir = dir;
        try {
            Files.createDirectories(dir);
            this.options = new Options().setCreateIfMissing(true);
            this.filter = SessionRocksConfig.tune(options);
            this.db = RocksDB.open(options, dir.toString());
            this.writeOptions = new WriteOptions().setSync(sync);
        } catch (RocksDBException | IOException e) {
            throw new IllegalStateException("cannot open the session store at " + dir + ": " + e.getMessage(), e);
        }
    }

    @Override
    public byte[] get(byte[] key) {
        try {
            return db.get(key);
        } catch (RocksDBException e) {
            throw new IllegalStateException("read from " + dir + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void scan(byte[] from, byte[] to, Visitor visitor) {
        try (RocksIterator it = db.newIterator()) {
            for (it.seek(from); it.isValid(); it.next()) {
                byte[] key = it.key();
                if (Arrays.compareUnsigned(key, to) >= 0) break;
                if (!visitor.visit(key, it.value())) break;
            }
        }
    }

    @Override
    public void write(WriteBatchBuilder batch) {
        try (WriteBatch wb = new WriteBatch()) {
            for (WriteBatchBuilder.Op op : batch.ops()) {
                switch (op) {
                    case WriteBatchBuilder.Put p -> wb.put(p.key(), p.value());
                    case WriteBatchBuilder.Delete d -> wb.delete(d.key());
                    case WriteBatchBuilder.DeleteRange r -> wb.deleteRange(r.from(), r.to());
                }
            }
            lastBatchDataSize = wb.getDataSize();
            db.write(writeOptions, wb);
        } catch (RocksDBException e) {
            throw new IllegalStateException("write to " + dir + " failed: " + e.getMessage(), e);
        }
    }

    /** RocksDB's own size of the last batch written (its WriteBatch data size: keys, values, framing). */
    public long lastBatchDataSize() {
        return lastBatchDataSize;
    }

    /** Flushes memtables so that files on disk reflect everything written (for size measurements). */
    public void flush() {
        try (var fo = new FlushOptions().setWaitForFlush(true)) {
            db.flush(fo);
        } catch (RocksDBException e) {
            throw new IllegalStateException("flush of " + dir + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        writeOptions.close();
        db.close();
        options.close();
        filter.close();
    }
}
