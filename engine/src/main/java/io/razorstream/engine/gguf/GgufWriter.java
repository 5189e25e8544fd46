package io.razorstream.engine.gguf;

import io.razorstream.engine.kernel.GgmlType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF files (version 3 by default, or 2). Tensor bytes are streamed from a {@link TensorData} so that
 * multi-gigabyte files can be written without holding them in memory.
 */
public final class GgufWriter {

    /** Produces exactly the tensor's bytes, in order. */
    @FunctionalInterface
    public interface TensorData {
        void writeTo(WritableByteChannel out) throws IOException;
    }

    private record PendingTensor(GgufTensorInfo info, TensorData data) {}

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<PendingTensor> tensors = new ArrayList<>();
    private int version = 3;
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;
    private long nextOffset = 0;

    public GgufWriter version(int version) {
        if (version != 2 && version != 3) throw new IllegalArgumentException("GGUF version must be 2 or 3");
        this.version = version;
        return this;
    }

    /** Sets {@code general.alignment} (must be set before tensors are added). */
    public GgufWriter alignment(int alignment) {
        if (alignment <= 0 || Integer.bitCount(alignment) != 1)
            throw new IllegalArgumentException("alignment must be a power of two");
        if (!tensors.isEmpty()) throw new IllegalStateException("set the alignment before adding tensors");
        this.alignment = alignment;
        metadata.put(GgufFile.ALIGNMENT_KEY, GgufValue.ofUint32(alignment));
        return this;
    }

    public GgufWriter put(String key, GgufValue value) {
        metadata.put(key, value);
        return this;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValue.ofString(value));
    }

    public GgufWriter putUint32(String key, int value) {
        return put(key, GgufValue.ofUint32(value));
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValue.ofFloat32(value));
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValue.ofBool(value));
    }

    public GgufWriter addTensor(String name, GgmlType type, long[] shape, byte[] bytes) {
        long expected = type.bytesFor(elements(shape));
        if (bytes.length != expected) {
            throw new IllegalArgumentException(
                    "tensor " + name + ": " + bytes.length + " bytes given, " + expected + " expected");
        }
        return addTensor(name, type, shape, out -> writeFully(out, ByteBuffer.wrap(bytes)));
    }

    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorData data) {
        if (shape[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException(
                    "tensor " + name + ": row length " + shape[0] + " is not a multiple of " + type.blockSize());
        }
        GgufTensorInfo info = new GgufTensorInfo(name, type, shape.clone(), nextOffset);
        tensors.add(new PendingTensor(info, data));
        nextOffset = GgufFile.alignUp(nextOffset + info.byteSize(), alignment);
        return this;
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public void write(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(
                path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            Header h = new Header();
            h.i32(GgufFile.MAGIC);
            h.i32(version);
            h.i64(tensors.size());
            h.i64(metadata.size());
            for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
                h.string(e.getKey());
                h.i32(e.getValue().type().code());
                h.value(e.getValue());
            }
            for (PendingTensor t : tensors) {
                GgufTensorInfo info = t.info();
                h.string(info.name());
                h.i32(info.shape().length);
                for (long d : info.shape()) h.i64(d);
                h.i32(info.type().code());
                h.i64(info.offset());
            }
            h.pad(alignment);
            writeFully(ch, h.buffer());
            long dataStart = ch.position();
            for (PendingTensor t : tensors) {
                long start = dataStart + t.info().offset();
                ch.position(start);
                t.data().writeTo(ch);
                long written = ch.position() - start;
                if (written != t.info().byteSize()) {
                    throw new IOException("tensor " + t.info().name() + ": wrote " + written + " bytes, expected "
                            + t.info().byteSize());
                }
            }
            // Pad the last tensor so that the file ends on the alignment, as ggml does.
            long end = GgufFile.alignUp(ch.position() - dataStart, alignment) + dataStart;
            if (end > ch.position()) writeFully(ch, ByteBuffer.allocate((int) (end - ch.position())));
        }
    }

    public static void writeFully(WritableByteChannel out, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) out.write(buf);
    }

    /** Growable little-endian buffer for the header. */
    private static final class Header {
        private ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private void ensure(int n) {
            if (buf.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n))
                        .order(ByteOrder.LITTLE_ENDIAN);
                buf.flip();
                bigger.put(buf);
                buf = bigger;
            }
        }

        void i8(byte v) {
            ensure(1);
            buf.put(v);
        }

        void i16(short v) {
            ensure(2);
            buf.putShort(v);
        }

        void i32(int v) {
            ensure(4);
            buf.putInt(v);
        }

        void i64(long v) {
            ensure(8);
            buf.putLong(v);
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            ensure(b.length);
            buf.put(b);
        }

        void value(GgufValue v) {
            switch (v.type()) {
                case UINT8, INT8 -> i8((Byte) v.value());
                case UINT16, INT16 -> i16((Short) v.value());
                case UINT32, INT32 -> i32((Integer) v.value());
                case FLOAT32 -> i32(Float.floatToRawIntBits((Float) v.value()));
                case BOOL -> i8((byte) (((Boolean) v.value()) ? 1 : 0));
                case STRING -> string((String) v.value());
                case UINT64, INT64 -> i64((Long) v.value());
                case FLOAT64 -> i64(Double.doubleToRawLongBits((Double) v.value()));
                case ARRAY -> {
                    GgufArray a = v.asArray();
                    i32(a.elementType().code());
                    i64(a.size());
                    for (GgufValue e : a.elements()) {
                        if (e.type() != a.elementType())
                            throw new IllegalArgumentException("array of " + a.elementType() + " holds a " + e.type());
                        value(e);
                    }
                }
            }
        }

        void pad(int alignment) {
            int pad = (int) (GgufFile.alignUp(buf.position(), alignment) - buf.position());
            ensure(pad);
            buf.put(new byte[pad]);
        }

        ByteBuffer buffer() {
            return buf.flip();
        }
    }
}
