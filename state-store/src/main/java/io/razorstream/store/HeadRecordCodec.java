package io.razorstream.store;

import io.razorstream.engine.attention.CompressedHead;
import io.razorstream.engine.attention.HeadRecord;
import io.razorstream.engine.attention.KvPrecision;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The bytes of a head record: precision u8, head size u16, then what the head writes
 * ({@link CompressedHead#writeRecord}: scalars little-endian, vectors through {@link VectorCodec} at the session's
 * precision). The layout of the state is the head's; this class only carries it (and the heads' undo records,
 * {@link UndoRecordCodec}).
 */
final class HeadRecordCodec {
    private HeadRecordCodec() {}

    static byte[] encode(CompressedHead head, KvPrecision precision, int headSize) {
        Out out = new Out(precision, headSize, 256);
        out.room(3).put((byte) precision.ordinal()).putShort((short) headSize);
        head.writeRecord(out);
        return RecordCodec.wrap(RecordCodec.KIND_HEAD, out.buffer.flip());
    }

    /** A reader over a record's payload, after checking that it was written at this precision and head size. */
    static HeadRecord.Reader reader(ByteBuffer payload, KvPrecision precision, int headSize, String where) {
        if (payload.get() != precision.ordinal() || payload.getShort() != headSize) {
            throw new StoreFormatException(where + ", head record: precision or head size differs from the session's");
        }
        return new In(payload, precision, headSize);
    }

    /** A head's writer into a growing little-endian buffer ({@link Out#buffer}, written up to its position). */
    static final class Out implements HeadRecord.Writer {
        private final KvPrecision precision;
        private final int headSize;
        ByteBuffer buffer;

        Out(KvPrecision precision, int headSize, int capacity) {
            this.precision = precision;
            this.headSize = headSize;
            this.buffer = ByteBuffer.allocate(Math.max(16, capacity)).order(ByteOrder.LITTLE_ENDIAN);
        }

        /**
         * The buffer, with room for at least {@code bytes} more (write them straight away: it may be replaced on the
         * next call).
         */
        ByteBuffer room(int bytes) {
            if (buffer.remaining() < bytes) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(2 * buffer.capacity(), buffer.position() + bytes))
                        .order(ByteOrder.LITTLE_ENDIAN);
                buffer = bigger.put(buffer.flip());
            }
            return buffer;
        }

        @Override
        public void putInt(int v) {
            room(4).putInt(v);
        }

        @Override
        public void putLong(long v) {
            room(8).putLong(v);
        }

        @Override
        public void putFloat(float v) {
            room(4).putFloat(v);
        }

        @Override
        public void putDouble(double v) {
            room(8).putDouble(v);
        }

        @Override
        public void putVector(float[] a, int off) {
            VectorCodec.encode(precision, a, off, headSize, room(precision.vectorBytes(headSize)));
        }
    }

    /** A head's reader over {@code buffer} (from its position, little-endian). */
    record In(ByteBuffer buffer, KvPrecision precision, int headSize) implements HeadRecord.Reader {
        @Override
        public int getInt() {
            return buffer.getInt();
        }

        @Override
        public long getLong() {
            return buffer.getLong();
        }

        @Override
        public float getFloat() {
            return buffer.getFloat();
        }

        @Override
        public double getDouble() {
            return buffer.getDouble();
        }

        @Override
        public void getVector(float[] a, int off) {
            VectorCodec.decode(precision, buffer, a, off, headSize);
        }
    }
}
