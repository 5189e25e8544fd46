package io.razorstream.store;

import java.util.ArrayList;
import java.util.List;

/** The changes of one turn, collected before they are applied as one atomic batch; counts the bytes it carries. */
public final class WriteBatchBuilder {
    sealed interface Op {}

    record Put(byte[] key, byte[] value) implements Op {}

    record Delete(byte[] key) implements Op {}

    record DeleteRange(byte[] from, byte[] to) implements Op {}

    private final List<Op> ops = new ArrayList<>();
    private long bytes;

    void put(byte[] key, byte[] value) {
        ops.add(new Put(key, value));
        bytes += key.length + value.length;
    }

    void delete(byte[] key) {
        ops.add(new Delete(key));
        bytes += key.length;
    }

    void deleteRange(byte[] from, byte[] to) {
        ops.add(new DeleteRange(from, to));
        bytes += from.length + to.length;
    }

    List<Op> ops() {
        return ops;
    }

    /** Keys and values this batch writes, in bytes (deletes count their keys). */
    public long bytes() {
        return bytes;
    }

    public int puts() {
        return (int) ops.stream().filter(o -> o instanceof Put).count();
    }

    public int deletes() {
        return ops.size() - puts();
    }
}
