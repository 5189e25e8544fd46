package io.razorstream.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Supplier;
import java.util.zip.CRC32C;

/**
 * The envelope of every stored value: {@code 'R' 'Z' | format version u8 | kind u8 | payload length u32 | CRC32C of the
 * payload u32 | payload}. A flipped byte, a truncated value, a record of the wrong kind or of another format version is
 * refused with a message that names where it was found. Records of the previous version ({@link #OLDEST_READABLE}) are
 * read too: a record's reader branches on {@link #version} where its layout changed (only the metadata's did, from 3 to
 * 4).
 */
final class RecordCodec {
    /** The format this build writes and reads. A store of any other version is refused, never guessed at. */
    // 2: applied turns are records of their own (1 kept the last 64 in the metadata); 3: any head spec per head
    // (H2O and SnapKV persist too), the prompt's end, and a head record with its spec's state; 4: the metadata's policy
    // is a table of the distinct specs, each written from its record components (any HeadSpec record persists), and
    // an index per head (HeadSpecCodec; 3's per-head kind tags are still read)
    static final int FORMAT_VERSION = 4;
    /** The oldest format this build still reads (its records' layouts are this one's, except the metadata's policy). */
    static final int OLDEST_READABLE = 3;

    static final byte KIND_META = 1, KIND_HEAD = 2, KIND_BLOCK = 3, KIND_TURN = 4, KIND_UNDO = 5;
    private static final int HEADER = 2 + 1 + 1 + 4 + 4;

    private RecordCodec() {}

    static byte[] wrap(byte kind, ByteBuffer payload) {
        return wrap(kind, payload, FORMAT_VERSION);
    }

    /** {@link #wrap} in an older {@code version}'s envelope (tests: records as an older build wrote them). */
    static byte[] wrap(byte kind, ByteBuffer payload, int version) {
        int length = payload.remaining();
        ByteBuffer out = ByteBuffer.allocate(HEADER + length).order(ByteOrder.LITTLE_ENDIAN);
        CRC32C crc = new CRC32C();
        crc.update(payload.duplicate());
        out.put((byte) 'R')
                .put((byte) 'Z')
                .put((byte) version)
                .put(kind)
                .putInt(length)
                .putInt((int) crc.getValue())
                .put(payload);
        return out.array();
    }

    /** The format version {@code value} was written in (after {@link #unwrap} accepted it). */
    static int version(byte[] value) {
        return Byte.toUnsignedInt(value[2]);
    }

    /** The payload of {@code value}, checked; {@code where} names the record in error messages. */
    static ByteBuffer unwrap(byte[] value, byte kind, Supplier<String> where) {
        if (value.length < HEADER || value[0] != 'R' || value[1] != 'Z') {
            throw new StoreFormatException(
                    where.get() + ": not a RazorStream record (bad header, " + value.length + " bytes)");
        }
        int version = Byte.toUnsignedInt(value[2]);
        if (version < OLDEST_READABLE || version > FORMAT_VERSION) {
            throw new StoreFormatException(where.get() + ": written in store format version " + version
                    + ", this build reads version " + FORMAT_VERSION + " (and " + OLDEST_READABLE
                    + ", written before it) only; delete the session or use a matching RazorStream version");
        }
        if (value[3] != kind)
            throw new StoreFormatException(
                    where.get() + ": record of kind " + value[3] + " where kind " + kind + " was expected");
        ByteBuffer b = ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN);
        int length = b.getInt(4), expected = b.getInt(8);
        if (length != value.length - HEADER) {
            throw new StoreFormatException(where.get() + ": truncated record (header says " + length
                    + " payload bytes, found " + (value.length - HEADER) + ")");
        }
        CRC32C crc = new CRC32C();
        crc.update(value, HEADER, length);
        if ((int) crc.getValue() != expected)
            throw new StoreFormatException(where.get() + ": checksum mismatch (the stored record is corrupt)");
        return b.position(HEADER).slice().order(ByteOrder.LITTLE_ENDIAN);
    }
}
