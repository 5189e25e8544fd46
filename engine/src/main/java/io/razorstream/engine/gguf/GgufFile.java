package io.razorstream.engine.gguf;

import io.razorstream.engine.kernel.GgmlType;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (versions 2 and 3, little-endian), memory-mapped with the FFM API so that tensor data is never copied
 * onto the heap and files over 2 GB work. Every count and length read from the header is checked against the bytes that
 * remain before anything is allocated, so a corrupt file fails with one {@link GgufFormatException} naming the file and
 * the problem, never with an OutOfMemoryError.
 */
public final class GgufFile implements AutoCloseable {
    public static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian int
    public static final int DEFAULT_ALIGNMENT = 32;
    public static final String ALIGNMENT_KEY = "general.alignment";
    private static final int MAX_DIMS = 4; // GGML_MAX_DIMS

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final int version;
    private final Map<String, GgufValue> metadata;
    private final Map<String, GgufTensorInfo> tensors;
    private final int alignment;
    private final long dataOffset;

    private GgufFile(
            Path path,
            Arena arena,
            MemorySegment file,
            int version,
            Map<String, GgufValue> metadata,
            Map<String, GgufTensorInfo> tensors,
            int alignment,
            long dataOffset) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
        this.alignment = alignment;
        this.dataOffset = dataOffset;
    }

    /** Opens and validates {@code path}; the caller closes it (which unmaps the tensor data). */
    public static GgufFile open(Path path) {
        if (!Files.exists(path)) throw new GgufFormatException(path, "no such file");
        if (Files.isDirectory(path)) throw new GgufFormatException(path, "is a directory, not a GGUF file");
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment seg = size == 0
                    ? MemorySegment.ofArray(new byte[0])
                    : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parse(path, arena, seg);
        } catch (NoSuchFileException e) {
            arena.close();
            throw new GgufFormatException(path, "no such file", e);
        } catch (IOException e) {
            arena.close();
            throw new GgufFormatException(path, "cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static GgufFile parse(Path path, Arena arena, MemorySegment seg) {
        Cursor c = new Cursor(path, seg);
        if (seg.byteSize() < 4)
            throw new GgufFormatException(path, "not a GGUF file (only " + seg.byteSize() + " bytes)");
        int magic = c.i32("magic");
        if (magic != MAGIC) {
            throw new GgufFormatException(
                    path, String.format("not a GGUF file (magic 0x%08x, expected \"GGUF\")", magic));
        }
        int version = c.i32("version");
        if (version == 1) throw new GgufFormatException(path, "GGUF version 1 is not supported (only 2 and 3)");
        if (version != 2 && version != 3) {
            if (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3) {
                throw new GgufFormatException(path, "big-endian GGUF files are not supported");
            }
            throw new GgufFormatException(path, "unsupported GGUF version " + Integer.toUnsignedString(version));
        }
        long tensorCount = c.u64("tensor count");
        long kvCount = c.u64("metadata count");
        // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor entry at least 8 + 4 + 4
        // + 8.
        c.checkCount(kvCount, 13, "metadata count");
        c.checkCount(tensorCount, 24, "tensor count");

        Map<String, GgufValue> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = c.string("metadata key #" + i);
            int typeCode = c.i32("type of " + key);
            GgufValueType type = GgufValueType.fromCode(typeCode);
            if (type == null)
                throw new GgufFormatException(path, "metadata " + key + " has unknown value type " + typeCode);
            if (metadata.containsKey(key)) throw new GgufFormatException(path, "duplicate metadata key " + key);
            metadata.put(key, c.value(type, key, 0));
        }

        int alignment = DEFAULT_ALIGNMENT;
        GgufValue a = metadata.get(ALIGNMENT_KEY);
        if (a != null) {
            long al = a.isInteger() ? a.asLong() : -1;
            if (al <= 0 || al > (1 << 30) || Long.bitCount(al) != 1) {
                throw new GgufFormatException(path, ALIGNMENT_KEY + " must be a power of two, got " + a.describe(4));
            }
            alignment = (int) al;
        }

        List<GgufTensorInfo> infos = new ArrayList<>();
        Map<String, GgufTensorInfo> tensors = new LinkedHashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            String name = c.string("tensor name #" + i);
            int nDims = c.i32("dimension count of " + name);
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw new GgufFormatException(
                        path, "tensor " + name + " has " + nDims + " dimensions (1.." + MAX_DIMS + " allowed)");
            }
            long[] shape = new long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                shape[d] = c.u64("dimension " + d + " of " + name);
                if (shape[d] <= 0)
                    throw new GgufFormatException(
                            path, "tensor " + name + " has dimension " + d + " = " + Long.toUnsignedString(shape[d]));
                try {
                    elements = Math.multiplyExact(elements, shape[d]);
                } catch (ArithmeticException e) {
                    throw new GgufFormatException(path, "tensor " + name + " has an absurd element count (overflow)");
                }
            }
            int typeCode = c.i32("type of " + name);
            GgmlType type = GgmlType.fromCode(typeCode);
            if (type == null)
                throw new GgufFormatException(path, "tensor " + name + " has unknown ggml type " + typeCode);
            if (shape[0] % type.blockSize() != 0) {
                throw new GgufFormatException(
                        path,
                        "tensor " + name + ": row length " + shape[0] + " is not a multiple of the " + type
                                + " block size " + type.blockSize());
            }
            long offset = c.u64("data offset of " + name);
            if (offset < 0 || offset % alignment != 0) {
                throw new GgufFormatException(
                        path,
                        "tensor " + name + " data offset " + Long.toUnsignedString(offset)
                                + " is not a multiple of the alignment " + alignment);
            }
            if (tensors.containsKey(name)) throw new GgufFormatException(path, "duplicate tensor " + name);
            GgufTensorInfo info = new GgufTensorInfo(name, type, shape, offset);
            infos.add(info);
            tensors.put(name, info);
        }

        long dataOffset = alignUp(c.pos, alignment);
        long dataSize = seg.byteSize() - dataOffset;
        for (GgufTensorInfo t : infos) {
            long bytes;
            try {
                bytes = t.byteSize();
            } catch (ArithmeticException e) {
                throw new GgufFormatException(path, "tensor " + t.name() + " has an absurd byte size (overflow)");
            }
            if (dataSize < 0 || t.offset() > dataSize || bytes > dataSize - t.offset()) {
                throw new GgufFormatException(
                        path,
                        "tensor " + t.name() + " (" + bytes + " bytes at data offset " + t.offset()
                                + ") lies outside the file's data section (" + Math.max(0, dataSize)
                                + " bytes): the file is truncated or corrupt");
            }
        }
        return new GgufFile(
                path,
                arena,
                seg,
                version,
                Collections.unmodifiableMap(metadata),
                Collections.unmodifiableMap(tensors),
                alignment,
                dataOffset);
    }

    static long alignUp(long pos, int alignment) {
        return (pos + alignment - 1) / alignment * alignment;
    }

    public Path path() {
        return path;
    }

    public int version() {
        return version;
    }

    public int alignment() {
        return alignment;
    }

    public long dataOffset() {
        return dataOffset;
    }

    public long fileSize() {
        return file.byteSize();
    }

    public Map<String, GgufValue> metadata() {
        return metadata;
    }

    public Map<String, GgufTensorInfo> tensors() {
        return tensors;
    }

    public GgufValue get(String key) {
        return metadata.get(key);
    }

    /** The tensor's bytes, a slice of the mapping (valid until {@link #close()}). */
    public MemorySegment tensorData(GgufTensorInfo t) {
        return file.asSlice(dataOffset + t.offset(), t.byteSize());
    }

    public GgufTensorInfo tensor(String name) {
        return tensors.get(name);
    }

    /** Total bytes of tensor data. */
    public long tensorBytes() {
        long n = 0;
        for (GgufTensorInfo t : tensors.values()) n += t.byteSize();
        return n;
    }

    /**
     * A short identity of the model in this file: SHA-256 of the architecture and the tensor table (names, types,
     * shapes, offsets), which changes with any re-quantisation or reshaping but not with unrelated metadata edits. Hex,
     * 64 characters.
     */
    public String fingerprint() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            GgufValue arch = metadata.get("general.architecture");
            md.update(String.valueOf(arch == null ? "" : arch.describe(0)).getBytes(StandardCharsets.UTF_8));
            for (GgufTensorInfo t : tensors.values()) {
                md.update((t.name() + "|" + t.type() + "|" + Arrays.toString(t.shape()) + "|" + t.offset() + "\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    @Override
    public void close() {
        arena.close();
    }

    /** Bounds-checked little-endian reader over the header. */
    private static final class Cursor {
        private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfLong I64 =
                ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfShort I16 =
                ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final int MAX_NESTING = 8;

        private final Path path;
        private final MemorySegment seg;
        long pos;

        Cursor(Path path, MemorySegment seg) {
            this.path = path;
            this.seg = seg;
        }

        private long remaining() {
            return seg.byteSize() - pos;
        }

        private void need(long bytes, String what) {
            if (bytes > remaining()) {
                throw new GgufFormatException(
                        path,
                        "truncated file: reading " + what + " at byte " + pos + " needs " + bytes + " bytes but only "
                                + remaining() + " remain");
            }
        }

        /** Rejects counts that could not possibly fit in the rest of the file (before allocating anything). */
        void checkCount(long count, long minBytesEach, String what) {
            if (count < 0 || (minBytesEach > 0 && count > remaining() / minBytesEach)) {
                throw new GgufFormatException(
                        path,
                        "absurd " + what + " " + Long.toUnsignedString(count) + " (the remaining " + remaining()
                                + " bytes cannot hold that many)");
            }
        }

        int i32(String what) {
            need(4, what);
            int v = seg.get(I32, pos);
            pos += 4;
            return v;
        }

        long u64(String what) {
            need(8, what);
            long v = seg.get(I64, pos);
            pos += 8;
            if (v < 0) throw new GgufFormatException(path, "absurd " + what + " " + Long.toUnsignedString(v));
            return v;
        }

        String string(String what) {
            long len = u64("length of " + what);
            if (len > remaining()) {
                throw new GgufFormatException(
                        path, "absurd length " + len + " for " + what + " (only " + remaining() + " bytes remain)");
            }
            if (len > Integer.MAX_VALUE - 16) throw new GgufFormatException(path, "string too long for " + what);
            byte[] bytes = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            try {
                return StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(bytes))
                        .toString();
            } catch (CharacterCodingException e) {
                // Some real vocabularies hold byte sequences that are not valid UTF-8: keep them, replaced.
                return new String(bytes, StandardCharsets.UTF_8);
            }
        }

        GgufValue value(GgufValueType type, String key, int depth) {
            return switch (type) {
                case UINT8, INT8 -> {
                    need(1, key);
                    byte b = seg.get(ValueLayout.JAVA_BYTE, pos);
                    pos += 1;
                    yield new GgufValue(type, b);
                }
                case UINT16, INT16 -> {
                    need(2, key);
                    short s = seg.get(I16, pos);
                    pos += 2;
                    yield new GgufValue(type, s);
                }
                case UINT32, INT32 -> new GgufValue(type, i32(key));
                case FLOAT32 -> new GgufValue(type, Float.intBitsToFloat(i32(key)));
                case BOOL -> {
                    need(1, key);
                    byte b = seg.get(ValueLayout.JAVA_BYTE, pos);
                    pos += 1;
                    if (b != 0 && b != 1)
                        throw new GgufFormatException(
                                path, "metadata " + key + ": bool byte " + b + " is neither 0 nor 1");
                    yield new GgufValue(type, b == 1);
                }
                case STRING -> new GgufValue(type, string(key));
                case UINT64, INT64 -> {
                    need(8, key);
                    long v = seg.get(I64, pos);
                    pos += 8;
                    yield new GgufValue(type, v);
                }
                case FLOAT64 -> {
                    need(8, key);
                    long v = seg.get(I64, pos);
                    pos += 8;
                    yield new GgufValue(type, Double.longBitsToDouble(v));
                }
                case ARRAY -> array(key, depth);
            };
        }

        private GgufValue array(String key, int depth) {
            if (depth >= MAX_NESTING)
                throw new GgufFormatException(path, "metadata " + key + ": arrays nested deeper than " + MAX_NESTING);
            int code = i32("array element type of " + key);
            GgufValueType elementType = GgufValueType.fromCode(code);
            if (elementType == null)
                throw new GgufFormatException(path, "metadata " + key + " is an array of unknown type " + code);
            long count = u64("array length of " + key);
            checkCount(count, elementType.minBytes(), "array length of " + key);
            if (count > Integer.MAX_VALUE - 8)
                throw new GgufFormatException(
                        path, "metadata " + key + ": array of " + count + " elements is too long");
            List<GgufValue> elements = new ArrayList<>((int) count);
            for (long i = 0; i < count; i++) elements.add(value(elementType, key, depth + 1));
            return new GgufValue(GgufValueType.ARRAY, new GgufArray(elementType, elements));
        }
    }
}
