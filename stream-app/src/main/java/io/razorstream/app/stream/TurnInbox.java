package io.razorstream.app.stream;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * A task's accepted turn records that have no reply yet, kept in a changelogged store. A record is added in the same
 * Kafka transaction that commits its offset, and removed in the one that emits its reply: so a turn whose offset is
 * committed but whose engine work was lost in a crash or a rebalance is found here and run again, and none is run
 * twice. This is what lets the processor return from a record before its turn has run (turns of a partition then run at
 * the same time). Entries are few and short-lived: an in-memory store, restored from its changelog.
 */
final class TurnInbox {
    static final String STORE = "turn-inbox";

    /**
     * An accepted record: its place in the task's order, the record as it came (key, value, timestamp, headers), and
     * where from.
     */
    record Entry(long seq, Record<byte[], byte[]> record, String source) {}

    private final KeyValueStore<Bytes, byte[]> store;
    private long nextSeq;

    TurnInbox(KeyValueStore<Bytes, byte[]> store) {
        this.store = store;
    }

    static StoreBuilder<KeyValueStore<Bytes, byte[]>> builder() {
        return Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(STORE), Serdes.Bytes(), Serdes.ByteArray())
                .withCachingDisabled()
                .withLoggingEnabled(Map.of());
    }

    /** The entries left from before (a crash, a rebalance), oldest first; later entries are numbered after them. */
    List<Entry> recover() {
        List<Entry> out = new ArrayList<>();
        try (KeyValueIterator<Bytes, byte[]> it = store.all()) {
            while (it.hasNext()) {
                var kv = it.next();
                long seq = ByteBuffer.wrap(kv.key.get()).getLong();
                out.add(decode(seq, kv.value));
                nextSeq = Math.max(nextSeq, seq + 1);
            }
        }
        out.sort(Comparator.comparingLong(Entry::seq)); // the store's order is not promised to be the keys'
        return out;
    }

    Entry add(Record<byte[], byte[]> record, String source) {
        Entry e = new Entry(nextSeq++, record, source);
        store.put(key(e.seq()), encode(e));
        return e;
    }

    void remove(Entry e) {
        store.delete(key(e.seq()));
    }

    private static Bytes key(long seq) {
        return Bytes.wrap(ByteBuffer.allocate(Long.BYTES).putLong(seq).array());
    }

    private static byte[] encode(Entry e) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            Record<byte[], byte[]> r = e.record();
            writeBytes(out, r.key());
            writeBytes(out, r.value());
            out.writeLong(r.timestamp());
            out.writeUTF(e.source());
            Header[] headers = r.headers().toArray();
            out.writeInt(headers.length);
            for (Header h : headers) {
                out.writeUTF(h.key());
                writeBytes(out, h.value());
            }
            out.flush();
            return bytes.toByteArray();
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
    }

    private static Entry decode(long seq, byte[] value) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(value))) {
            byte[] key = readBytes(in), body = readBytes(in);
            long timestamp = in.readLong();
            String source = in.readUTF();
            Headers headers = new RecordHeaders();
            for (int i = in.readInt(); i > 0; i--) headers.add(in.readUTF(), readBytes(in));
            return new Entry(seq, new Record<>(key, body, timestamp, headers), source);
        } catch (IOException ex) {
            throw new IllegalStateException("turn inbox entry " + seq + " is unreadable: " + ex, ex);
        }
    }

    private static void writeBytes(DataOutputStream out, byte[] b) throws IOException {
        out.writeInt(b == null ? -1 : b.length);
        if (b != null) out.write(b);
    }

    private static byte[] readBytes(DataInputStream in) throws IOException {
        int n = in.readInt();
        return n < 0 ? null : in.readNBytes(n);
    }
}
