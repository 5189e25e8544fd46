package io.razorstream.store;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The key layout. Numbers are fixed-width big-endian so that keys sort the way they read and a session's keys form one
 * contiguous range:
 *
 * <pre>
 *   meta:  0x01 | len u16 | session id (UTF-8)
 *   data:  0x02 | len u16 | session id | layer u16 | kv head u16 | kind u8 | block u32
 *   turn:  0x03 | len u16 | session id | turn id (UTF-8)
 *   undo:  0x04 | len u16 | session id | mark number u64 | part u32
 * </pre>
 *
 * The length prefix keeps {@code abc} and {@code abcd} apart (no session's range contains another's), and putting every
 * meta record under 0x01 lets sessions be listed without reading a single block.
 */
final class SessionKeys {
    static final byte META = 1, DATA = 2, TURN = 3, UNDO = 4;
    /** Kinds of data record: a WINDOW head's sinks and compensation accumulator, or a block of tokens. */
    static final byte HEAD_RECORD = 0, BLOCK = 1;

    private static final int DATA_SUFFIX = 2 + 2 + 1 + 4;

    private SessionKeys() {}

    static byte[] idBytes(String sessionId) {
        if (sessionId == null || sessionId.isEmpty())
            throw new IllegalArgumentException("session id must not be empty");
        byte[] b = sessionId.getBytes(StandardCharsets.UTF_8);
        if (b.length > Session.MAX_ID_BYTES) {
            throw new IllegalArgumentException(
                    "session id is " + b.length + " bytes; at most " + Session.MAX_ID_BYTES + " allowed");
        }
        return b;
    }

    static byte[] meta(String sessionId) {
        return prefix(META, idBytes(sessionId), 0).array();
    }

    /** Every data key of the session starts with this. */
    static byte[] dataPrefix(String sessionId) {
        return prefix(DATA, idBytes(sessionId), 0).array();
    }

    /** The record of an applied turn id (turn records sit apart from the data: loading a cache never reads them). */
    static byte[] turn(String sessionId, String turnId) {
        byte[] turn = turnId.getBytes(StandardCharsets.UTF_8);
        if (turn.length == 0 || turn.length > Session.MAX_ID_BYTES) {
            throw new IllegalArgumentException(
                    "turn id must be 1.." + Session.MAX_ID_BYTES + " bytes, got " + turn.length);
        }
        return prefix(TURN, idBytes(sessionId), turn.length).put(turn).array();
    }

    /** Every turn key of the session starts with this. */
    static byte[] turnPrefix(String sessionId) {
        return prefix(TURN, idBytes(sessionId), 0).array();
    }

    /**
     * A part of the undo record of a turn that can be taken back (marks numbered in the session's order: keys sort
     * oldest first; a record is cut into parts so that no changelog record outgrows Kafka's message size).
     */
    static byte[] undo(String sessionId, long mark, int part) {
        return prefix(UNDO, idBytes(sessionId), Long.BYTES + Integer.BYTES)
                .putLong(mark)
                .putInt(part)
                .array();
    }

    /** Every part of one mark's undo record starts with this. */
    static byte[] undoMark(String sessionId, long mark) {
        return prefix(UNDO, idBytes(sessionId), Long.BYTES).putLong(mark).array();
    }

    /** Every undo key of the session starts with this. */
    static byte[] undoPrefix(String sessionId) {
        return prefix(UNDO, idBytes(sessionId), 0).array();
    }

    /** The mark number of an undo key. */
    static long markOfUndo(byte[] key) {
        return ByteBuffer.wrap(key, key.length - Long.BYTES - Integer.BYTES, Long.BYTES)
                .getLong();
    }

    static byte[] headRecord(String sessionId, int layer, int kvHead) {
        return data(sessionId, layer, kvHead, HEAD_RECORD, 0);
    }

    static byte[] block(String sessionId, int layer, int kvHead, long index) {
        return data(sessionId, layer, kvHead, BLOCK, index);
    }

    private static byte[] data(String sessionId, int layer, int kvHead, byte kind, long index) {
        ByteBuffer b = prefix(DATA, idBytes(sessionId), DATA_SUFFIX);
        b.putShort((short) layer).putShort((short) kvHead).put(kind).putInt((int) index);
        return b.array();
    }

    private static ByteBuffer prefix(byte type, byte[] id, int extra) {
        return ByteBuffer.allocate(1 + 2 + id.length + extra)
                .put(type)
                .putShort((short) id.length)
                .put(id);
    }

    /** The first key after every key that starts with {@code prefix} (exclusive end of a prefix range). */
    static byte[] after(byte[] prefix) {
        byte[] end = prefix.clone();
        for (int i = end.length - 1; i >= 0; i--) {
            if (++end[i] != 0) return end;
        }
        throw new IllegalArgumentException("no key follows an all-0xff prefix");
    }

    /** Start and end of all meta keys. */
    static byte[] metaStart() {
        return new byte[] {META};
    }

    static byte[] metaEnd() {
        return new byte[] {META + 1};
    }

    /** The session id of a meta key. */
    static String sessionOfMeta(byte[] key) {
        ByteBuffer b = ByteBuffer.wrap(key);
        if (b.get() != META) throw new IllegalArgumentException("not a meta key");
        byte[] id = new byte[Short.toUnsignedInt(b.getShort())];
        b.get(id);
        return new String(id, StandardCharsets.UTF_8);
    }

    /** The fields of a data key. */
    record DataKey(int layer, int kvHead, byte kind, long index) {
        static DataKey parse(byte[] key) {
            ByteBuffer b = ByteBuffer.wrap(key, key.length - DATA_SUFFIX, DATA_SUFFIX);
            return new DataKey(
                    Short.toUnsignedInt(b.getShort()),
                    Short.toUnsignedInt(b.getShort()),
                    b.get(),
                    Integer.toUnsignedLong(b.getInt()));
        }

        @Override
        public String toString() {
            return kind == HEAD_RECORD
                    ? "layer " + layer + ", KV head " + kvHead + ", head record"
                    : "layer " + layer + ", KV head " + kvHead + ", block " + index;
        }
    }
}
