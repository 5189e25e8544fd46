package io.razorstream.engine.gguf;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Quantizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

/**
 * Corrupt, truncated or unsupported files must fail with one GgufFormatException that names the file and says what is
 * wrong: never an OutOfMemoryError, IndexOutOfBounds or similar from deep inside the reader. Bad files are
 * hand-assembled (little-endian) or made by patching/truncating files written by GgufWriter.
 */
class GgufBadInputTest {

    @TempDir
    Path dir;

    // ---- helpers --------------------------------------------------------------------------------

    /** A growable little-endian byte builder for hand-made headers. */
    static final class Bytes {
        private ByteBuffer b = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);

        private Bytes ensure(int n) {
            if (b.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(b.capacity() * 2 + n).order(ByteOrder.LITTLE_ENDIAN);
                b.flip();
                bigger.put(b);
                b = bigger;
            }
            return this;
        }

        Bytes i8(int v) {
            ensure(1).b.put((byte) v);
            return this;
        }

        Bytes i32(int v) {
            ensure(4).b.putInt(v);
            return this;
        }

        Bytes u64(long v) {
            ensure(8).b.putLong(v);
            return this;
        }

        Bytes raw(byte[] r) {
            ensure(r.length).b.put(r);
            return this;
        }

        Bytes str(String s) {
            byte[] r = s.getBytes(StandardCharsets.UTF_8);
            return u64(r.length).raw(r);
        }

        /** magic, version, tensor count, metadata count. */
        static Bytes header(int version, long tensors, long kvs) {
            return new Bytes().i32(GgufFile.MAGIC).i32(version).u64(tensors).u64(kvs);
        }

        Bytes padTo(int alignment) {
            while (b.position() % alignment != 0) i8(0);
            return this;
        }

        byte[] toArray() {
            return Arrays.copyOf(b.array(), b.position());
        }
    }

    private Path file(String name, byte[] content) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    /** Opens {@code p}, which must fail with a GgufFormatException naming the file and containing {@code phrase}. */
    private static GgufFormatException assertBad(Path p, String phrase) {
        Throwable t = catchThrowable(() -> {
            try (GgufFile g = GgufFile.open(p)) {
                // should not get here
            }
        });
        assertThat(t).as("opening " + p).isInstanceOf(GgufFormatException.class);
        GgufFormatException e = (GgufFormatException) t;
        assertThat(e.getMessage()).contains(p.toString()).contains(phrase);
        assertThat(e.file()).isEqualTo(p);
        return e;
    }

    /** A valid file written by GgufWriter: some metadata, two tensors. */
    private static GgufWriter validWriter() {
        float[] x = new float[64 * 2];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i);
        return new GgufWriter()
                .putString("general.architecture", "test")
                .putUint32("some.count", 7)
                .put("some.list", GgufValue.ofStrings(List.of("a", "bc", "def")))
                .put(
                        "some.nested",
                        new GgufValue(
                                GgufValueType.ARRAY,
                                new GgufArray(
                                        GgufValueType.ARRAY,
                                        List.of(GgufValue.ofInts(new int[] {1, 2}), GgufValue.ofFloats(new float[] {3f
                                        })))))
                .putBool("some.flag", true)
                .addTensor(
                        "first", GgmlType.F32, new long[] {3, 2}, Quantizer.quantize(GgmlType.F32, Arrays.copyOf(x, 6)))
                .addTensor("second", GgmlType.Q8_0, new long[] {64, 2}, Quantizer.quantize(GgmlType.Q8_0, x));
    }

    private byte[] validBytes() throws IOException {
        Path p = dir.resolve("valid-source.gguf");
        validWriter().write(p);
        return Files.readAllBytes(p);
    }

    /** The byte position just after the first occurrence of {@code needle} in {@code hay}. */
    private static int after(byte[] hay, String needle) {
        byte[] n = needle.getBytes(StandardCharsets.UTF_8);
        outer:
        for (int i = 0; i + n.length <= hay.length; i++) {
            for (int j = 0; j < n.length; j++) if (hay[i + j] != n[j]) continue outer;
            return i + n.length;
        }
        throw new AssertionError(needle + " not found");
    }

    private static byte[] patch(byte[] src, Consumer<ByteBuffer> edit) {
        byte[] copy = src.clone();
        edit.accept(ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN));
        return copy;
    }

    // ---- not a GGUF file at all ------------------------------------------------------------------

    @Test
    void wrongMagic() throws IOException {
        byte[] b = validBytes();
        b[0] = 'X';
        assertBad(file("magic.gguf", b), "not a GGUF file");
        // A GGML-era file (magic "lmgg") is refused the same way.
        assertBad(
                file(
                        "ggml.bin",
                        new Bytes().i32(0x67676d6c).i32(1).u64(0).u64(0).toArray()),
                "not a GGUF file");
    }

    @Test
    void emptyFile() throws IOException {
        assertBad(file("empty.gguf", new byte[0]), "not a GGUF file");
    }

    @Test
    void threeByteFile() throws IOException {
        assertBad(file("three.gguf", "GGU".getBytes(StandardCharsets.US_ASCII)), "not a GGUF file");
    }

    @Test
    void directory() throws IOException {
        Path d = Files.createDirectory(dir.resolve("model.gguf"));
        assertBad(d, "directory");
    }

    @Test
    void missingFile() {
        assertBad(dir.resolve("nope.gguf"), "no such file");
    }

    // ---- versions ------------------------------------------------------------------------------

    @Test
    void version1IsRefusedByName() throws IOException {
        assertBad(file("v1.gguf", Bytes.header(1, 0, 0).toArray()), "version 1");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 4, 99, -1})
    void unknownVersion(int version) throws IOException {
        GgufFormatException e =
                assertBad(file("v.gguf", Bytes.header(version, 0, 0).toArray()), "unsupported GGUF version");
        assertThat(e.getMessage()).contains(Integer.toUnsignedString(version));
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void bigEndianFile(int version) throws IOException {
        // gguf-py writes the magic little-endian always, then everything else in the file's byte order.
        byte[] b = new Bytes()
                .i32(GgufFile.MAGIC)
                .i32(Integer.reverseBytes(version))
                .u64(0)
                .u64(Long.reverseBytes(0))
                .toArray();
        assertBad(file("be.gguf", b), "big-endian");
    }

    // ---- truncation -----------------------------------------------------------------------------

    @Test
    void everyCutInsideTheHeaderFailsCleanly() throws IOException {
        byte[] b = validBytes();
        long dataOffset;
        try (GgufFile g = GgufFile.open(file("full.gguf", b))) {
            dataOffset = g.dataOffset();
        }
        Path p = dir.resolve("cut.gguf");
        for (int len = 0; len < dataOffset; len++) {
            Files.write(p, Arrays.copyOf(b, len));
            // every cut, whatever field it splits, is a GgufFormatException naming the file
            assertBad(p, "");
        }
    }

    @Test
    void cutsInsideTheHeaderSayTruncated() throws IOException {
        // A cut through a fixed-size field reports truncation (not some other complaint).
        byte[] b = validBytes();
        assertBad(file("cut6.gguf", Arrays.copyOf(b, 6)), "truncated");
        assertBad(file("cut20.gguf", Arrays.copyOf(b, 20)), "truncated");
        // (A cut further on usually trips the up-front count check first: "absurd metadata count".)
        byte[] cutValue = Bytes.header(3, 0, 1)
                .str("key")
                .i32(GgufValueType.UINT32.code())
                .i8(1)
                .i8(2)
                .toArray();
        assertBad(file("cutvalue.gguf", cutValue), "truncated");
    }

    @Test
    void everyCutInsideTensorDataIsOutsideTheDataSection() throws IOException {
        byte[] b = validBytes();
        long dataOffset, dataEnd = 0;
        try (GgufFile g = GgufFile.open(file("full.gguf", b))) {
            dataOffset = g.dataOffset();
            for (GgufTensorInfo t : g.tensors().values()) dataEnd = Math.max(dataEnd, t.offset() + t.byteSize());
        }
        Path p = dir.resolve("cut.gguf");
        // Every length from the start of the data up to one byte short of the last tensor's end.
        for (long len = dataOffset; len < dataOffset + dataEnd; len++) {
            Files.write(p, Arrays.copyOf(b, (int) len));
            assertBad(p, "outside the file's data section");
        }
        // The last tensor's end is enough (the trailing alignment padding is not required).
        Files.write(p, Arrays.copyOf(b, (int) (dataOffset + dataEnd)));
        try (GgufFile g = GgufFile.open(p)) {
            assertThat(g.tensors()).hasSize(2);
        }
    }

    // ---- absurd counts and lengths (must be refused before anything is allocated) ---------------

    @ParameterizedTest
    @ValueSource(longs = {1L << 40, 1L << 62, Long.MAX_VALUE, -1L /* 2^64-1 */, 1000})
    void hugeTensorCount(long count) throws IOException {
        assertBad(file("tc.gguf", Bytes.header(3, count, 0).padTo(32).toArray()), "absurd");
    }

    @ParameterizedTest
    @ValueSource(longs = {1L << 40, Long.MAX_VALUE, -1L, 1000})
    void hugeMetadataCount(long count) throws IOException {
        assertBad(file("kc.gguf", Bytes.header(3, 0, count).padTo(32).toArray()), "absurd");
    }

    @ParameterizedTest
    @ValueSource(longs = {1L << 40, (1L << 31) + 5, Long.MAX_VALUE, -1L, 100})
    void hugeKeyLength(long len) throws IOException {
        byte[] b = Bytes.header(3, 0, 1)
                .u64(len)
                .raw("key".getBytes(StandardCharsets.US_ASCII))
                .i32(4)
                .i32(1)
                .toArray();
        assertBad(file("kl.gguf", b), "absurd");
    }

    @ParameterizedTest
    @ValueSource(longs = {1L << 40, (1L << 31) + 5, Long.MAX_VALUE, 100})
    void hugeStringValueLength(long len) throws IOException {
        byte[] b = Bytes.header(3, 0, 1)
                .str("k")
                .i32(GgufValueType.STRING.code())
                .u64(len)
                .raw(new byte[8])
                .toArray();
        assertBad(file("sl.gguf", b), "absurd length");
    }

    @ParameterizedTest
    @ValueSource(longs = {1L << 40, (1L << 31) + 5, 1L << 62, Long.MAX_VALUE, 4096})
    void hugeArrayLength(long len) throws IOException {
        // With the default test heap, a reader that trusted the count would die allocating the list.
        for (GgufValueType elem :
                new GgufValueType[] {GgufValueType.UINT8, GgufValueType.STRING, GgufValueType.ARRAY}) {
            byte[] b = Bytes.header(3, 0, 1)
                    .str("k")
                    .i32(GgufValueType.ARRAY.code())
                    .i32(elem.code())
                    .u64(len)
                    .raw(new byte[64])
                    .toArray();
            assertBad(file("al.gguf", b), "absurd");
        }
    }

    @Test
    void hugeNestedArrayLength() throws IOException {
        // The inner array's count is checked too, not only the outer one.
        byte[] b = Bytes.header(3, 0, 1)
                .str("k")
                .i32(GgufValueType.ARRAY.code())
                .i32(GgufValueType.ARRAY.code())
                .u64(1)
                .i32(GgufValueType.INT64.code())
                .u64(1L << 50)
                .raw(new byte[16])
                .toArray();
        assertBad(file("nal.gguf", b), "absurd");
    }

    @Test
    void deeplyNestedArrays() throws IOException {
        // A chain of nested one-element arrays must hit a depth limit, not a StackOverflowError.
        Bytes b = Bytes.header(3, 0, 1).str("k").i32(GgufValueType.ARRAY.code());
        for (int i = 0; i < 5000; i++) b.i32(GgufValueType.ARRAY.code()).u64(1);
        b.i32(GgufValueType.UINT8.code()).u64(0);
        assertBad(file("deep.gguf", b.toArray()), "nested");
    }

    // ---- bad types and values ---------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(ints = {13, 99, -1})
    void unknownMetadataValueType(int code) throws IOException {
        byte[] b = Bytes.header(3, 0, 1).str("my.key").i32(code).u64(0).toArray();
        GgufFormatException e = assertBad(file("vt.gguf", b), "unknown value type");
        assertThat(e.getMessage()).contains("my.key").contains(String.valueOf(code));
    }

    @Test
    void unknownArrayElementType() throws IOException {
        byte[] b = Bytes.header(3, 0, 1)
                .str("my.key")
                .i32(GgufValueType.ARRAY.code())
                .i32(42)
                .u64(0)
                .toArray();
        assertBad(file("aet.gguf", b), "unknown type 42");
    }

    @Test
    void boolThatIsNeitherZeroNorOne() throws IOException {
        byte[] b = Bytes.header(3, 0, 1)
                .str("flag")
                .i32(GgufValueType.BOOL.code())
                .i8(2)
                .toArray();
        assertBad(file("bool.gguf", b), "flag");
    }

    @Test
    void duplicateMetadataKey() throws IOException {
        byte[] b = Bytes.header(3, 0, 2)
                .str("k")
                .i32(GgufValueType.UINT8.code())
                .i8(1)
                .str("k")
                .i32(GgufValueType.UINT8.code())
                .i8(2)
                .toArray();
        assertBad(file("dup.gguf", b), "duplicate metadata key k");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 3, 48, -64})
    void alignmentThatIsNotAPowerOfTwo(int alignment) throws IOException {
        byte[] b = Bytes.header(3, 0, 1)
                .str(GgufFile.ALIGNMENT_KEY)
                .i32(GgufValueType.UINT32.code())
                .i32(alignment)
                .toArray();
        assertBad(file("align.gguf", b), "power of two");
    }

    @Test
    void alignmentOfTheWrongType() throws IOException {
        byte[] b = Bytes.header(3, 0, 1)
                .str(GgufFile.ALIGNMENT_KEY)
                .i32(GgufValueType.STRING.code())
                .str("32")
                .toArray();
        assertBad(file("aligns.gguf", b), "power of two");
    }

    /** One tensor entry after a header with no metadata, with the fields given, then padding and data. */
    private static byte[] oneTensor(String name, int nDims, long[] shape, int typeCode, long offset, int dataBytes) {
        Bytes b = Bytes.header(3, 1, 0).str(name).i32(nDims);
        for (long d : shape) b.u64(d);
        b.i32(typeCode).u64(offset).padTo(32);
        return b.raw(new byte[dataBytes]).toArray();
    }

    @Test
    void handMadeTensorFileIsValid() throws IOException {
        // The baseline for the tensor cases below: the same assembly with correct fields opens.
        try (GgufFile g =
                GgufFile.open(file("ok.gguf", oneTensor("t", 2, new long[] {4, 2}, GgmlType.F32.code(), 0, 32)))) {
            assertThat(g.tensor("t").shape()).containsExactly(4, 2);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {4, 5, 31, 99, -1})
    void unknownGgmlType(int code) throws IOException {
        // 4 and 5 were Q4_2/Q4_3, removed from ggml long ago; the others never existed.
        GgufFormatException e =
                assertBad(file("gt.gguf", oneTensor("w", 1, new long[] {32}, code, 0, 128)), "unknown ggml type");
        assertThat(e.getMessage()).contains("w").contains(String.valueOf(code));
    }

    @ParameterizedTest
    @ValueSource(ints = {5, 8, 1 << 30, -1, 0})
    void badDimensionCount(int nDims) throws IOException {
        // GGML_MAX_DIMS is 4; zero or negative counts are as wrong as too many.
        long[] shape = new long[Math.max(0, Math.min(nDims, 8))];
        Arrays.fill(shape, 1);
        assertBad(file("dims.gguf", oneTensor("w", nDims, shape, GgmlType.F32.code(), 0, 64)), "dimensions");
    }

    @Test
    void zeroDimension() throws IOException {
        assertBad(
                file("zero.gguf", oneTensor("w", 2, new long[] {4, 0}, GgmlType.F32.code(), 0, 64)), "dimension 1 = 0");
    }

    @Test
    void elementCountOverflow() throws IOException {
        assertBad(
                file("ovf.gguf", oneTensor("w", 3, new long[] {1L << 32, 1L << 32, 2}, GgmlType.F32.code(), 0, 64)),
                "absurd");
    }

    @Test
    void byteSizeOverflow() throws IOException {
        // 2^62 elements fit in a long, their 2^64 bytes do not.
        assertBad(
                file("bovf.gguf", oneTensor("w", 2, new long[] {1L << 31, 1L << 31}, GgmlType.F32.code(), 0, 64)),
                "absurd");
    }

    @Test
    void rowLengthNotAMultipleOfTheBlock() throws IOException {
        assertBad(file("blk.gguf", oneTensor("w", 1, new long[] {48}, GgmlType.Q8_0.code(), 0, 64)), "block size");
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 16, 31, 33})
    void tensorOffsetNotAligned(long offset) throws IOException {
        assertBad(file("off.gguf", oneTensor("w", 1, new long[] {4}, GgmlType.F32.code(), offset, 128)), "alignment");
    }

    @Test
    void tensorOffsetNotAlignedToACustomAlignment() throws IOException {
        // 32 is aligned by default, but not with general.alignment = 64.
        Path p = dir.resolve("custom.gguf");
        new GgufWriter()
                .alignment(64)
                .addTensor("tensor_a", GgmlType.F32, new long[] {8}, new byte[32])
                .addTensor("tensor_b", GgmlType.F32, new long[] {8}, new byte[32])
                .write(p);
        byte[] c = Files.readAllBytes(p);
        int offsetOfB = after(c, "tensor_b") + 4 + 8 + 4; // after the name: nDims, one dimension, type
        assertThat(ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).getLong(offsetOfB))
                .isEqualTo(64);
        Files.write(p, patch(c, bb -> bb.putLong(offsetOfB, 32)));
        assertBad(p, "not a multiple of the alignment 64");
    }

    @Test
    void tensorBeyondTheEndOfTheFile() throws IOException {
        assertBad(
                file("beyond.gguf", oneTensor("w", 1, new long[] {4}, GgmlType.F32.code(), 1L << 40, 16)),
                "outside the file's data section");
    }

    @Test
    void duplicateTensorName() throws IOException {
        Bytes b = Bytes.header(3, 2, 0);
        for (int i = 0; i < 2; i++)
            b.str("w").i32(1).u64(4).i32(GgmlType.F32.code()).u64(32L * i);
        assertBad(file("dupt.gguf", b.padTo(32).raw(new byte[64]).toArray()), "duplicate tensor w");
    }

    @Test
    void patchedCountsInAWriterFile() throws IOException {
        // The same checks hold for fields patched into an otherwise valid file.
        byte[] b = validBytes();
        assertBad(file("p1.gguf", patch(b, bb -> bb.putLong(8, 1L << 40))), "absurd tensor count");
        assertBad(file("p2.gguf", patch(b, bb -> bb.putLong(16, 1L << 40))), "absurd metadata count");
        int listCount = after(b, "some.list") + 4 + 4; // type ARRAY, element type STRING
        assertThat(ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(listCount))
                .isEqualTo(3);
        assertBad(file("p3.gguf", patch(b, bb -> bb.putLong(listCount, 1L << 40))), "absurd array length of some.list");
        int typeOfFirst = after(b, "first") + 4 + 8 + 8; // nDims, two dimensions
        assertThat(ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt(typeOfFirst))
                .isEqualTo(GgmlType.F32.code());
        assertBad(file("p4.gguf", patch(b, bb -> bb.putInt(typeOfFirst, 77))), "unknown ggml type 77");
        int nDimsOfFirst = after(b, "first");
        assertBad(file("p5.gguf", patch(b, bb -> bb.putInt(nDimsOfFirst, 7))), "7 dimensions");
    }

    @Test
    void randomHeaderCorruptionNeverEscapesAsAnotherException() throws IOException {
        // Property: flipping random header bytes either still gives a readable file or a
        // GgufFormatException; nothing else (no IndexOutOfBounds, NegativeArraySize, OOM, ...).
        byte[] b = validBytes();
        long dataOffset;
        try (GgufFile g = GgufFile.open(file("full.gguf", b))) {
            dataOffset = g.dataOffset();
        }
        Random rnd = new Random(1234);
        Path p = dir.resolve("fuzz.gguf");
        int failures = 0;
        for (int iter = 0; iter < 1500; iter++) {
            byte[] c = b.clone();
            int flips = 1 + rnd.nextInt(4);
            for (int f = 0; f < flips; f++) {
                int pos = 4 + rnd.nextInt((int) dataOffset - 4); // keep the magic so the parser goes deep
                c[pos] = switch (rnd.nextInt(3)) {
                    case 0 -> (byte) rnd.nextInt(256);
                    case 1 -> (byte) 0xFF;
                    default -> (byte) (c[pos] ^ (1 << rnd.nextInt(8)));
                };
            }
            Files.write(p, c);
            try (GgufFile g = GgufFile.open(p)) {
                assertThat(g.version()).isIn(2, 3);
            } catch (GgufFormatException e) {
                assertThat(e.getMessage()).startsWith(p + ": ");
                failures++;
            }
        }
        assertThat(failures).as("most corruptions are detected").isGreaterThan(100);
    }

    // ---- files that parse but are not models this engine can run ------------------------------

    /** A tiny but complete llama GGUF: d = 32, 4 heads (2 KV heads), one block, 8 tokens. */
    static final class TinyLlama {
        static final int D = 32, HEADS = 4, KV_HEADS = 2, VOCAB = 8;
        static final int KV_DIM = D / HEADS * KV_HEADS;
        int ff = 64;
        String arch = "llama";
        final Map<String, GgmlType> typeOverride = new LinkedHashMap<>();
        final Map<String, GgufValue> extraMetadata = new LinkedHashMap<>();

        void write(Path p) throws IOException {
            Random rnd = new Random(5);
            GgufWriter w = new GgufWriter();
            w.putString("general.architecture", arch);
            w.putUint32(arch + ".embedding_length", D);
            w.putUint32(arch + ".block_count", 1);
            w.putUint32(arch + ".feed_forward_length", ff);
            w.putUint32(arch + ".attention.head_count", HEADS);
            w.putUint32(arch + ".attention.head_count_kv", KV_HEADS);
            w.putUint32(arch + ".context_length", 64);
            w.putString("tokenizer.ggml.model", "llama");
            w.put(
                    "tokenizer.ggml.tokens",
                    GgufValue.ofStrings(List.of("<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "<0x0A>")));
            w.put("tokenizer.ggml.scores", GgufValue.ofFloats(new float[] {0, 0, 0, -1, -2, -3, -4, 0}));
            w.put("tokenizer.ggml.token_type", GgufValue.ofInts(new int[] {2, 3, 3, 1, 1, 1, 1, 6}));
            extraMetadata.forEach(w::put);
            tensor(w, rnd, "token_embd.weight", D, VOCAB);
            tensor(w, rnd, "output_norm.weight", D);
            tensor(w, rnd, "output.weight", D, VOCAB);
            String b = "blk.0.";
            tensor(w, rnd, b + "attn_norm.weight", D);
            tensor(w, rnd, b + "attn_q.weight", D, D);
            tensor(w, rnd, b + "attn_k.weight", D, KV_DIM);
            tensor(w, rnd, b + "attn_v.weight", D, KV_DIM);
            tensor(w, rnd, b + "attn_output.weight", D, D);
            tensor(w, rnd, b + "ffn_norm.weight", D);
            tensor(w, rnd, b + "ffn_gate.weight", D, ff);
            tensor(w, rnd, b + "ffn_up.weight", D, ff);
            tensor(w, rnd, b + "ffn_down.weight", ff, D);
            w.write(p);
        }

        private void tensor(GgufWriter w, Random rnd, String name, long... shape) {
            GgmlType type = typeOverride.getOrDefault(name, GgmlType.F32);
            long n = 1;
            for (long s : shape) n *= s;
            byte[] bytes;
            if (type.supported()) {
                float[] x = new float[(int) n];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian() * 0.1f;
                bytes = Quantizer.quantize(type, x);
            } else {
                bytes = new byte[(int) type.bytesFor(n)]; // raw bytes of the right size: only the type matters
                rnd.nextBytes(bytes);
            }
            w.addTensor(name, type, shape, bytes);
        }
    }

    private static void assertModelBad(Path p, String... phrases) {
        Throwable t = catchThrowable(() -> LoadedModel.open(p).close());
        assertThat(t).as("LoadedModel.open(" + p + ")").isInstanceOf(GgufFormatException.class);
        assertThat(t.getMessage()).contains(p.toString());
        for (String phrase : phrases) assertThat(t.getMessage()).contains(phrase);
    }

    @Test
    void tinyLlamaBaselineLoads() throws IOException {
        // Without this, the failures below could come from a broken builder rather than the defect.
        Path p = dir.resolve("tiny.gguf");
        new TinyLlama().write(p);
        try (LoadedModel m = LoadedModel.open(p)) {
            assertThat(m.model().config().vocabularySize()).isEqualTo(TinyLlama.VOCAB);
            assertThat(m.model().config().kvHeadCount()).isEqualTo(TinyLlama.KV_HEADS);
        }
    }

    @Test
    void unsupportedArchitecture() throws IOException {
        TinyLlama m = new TinyLlama();
        m.arch = "gpt2";
        Path p = dir.resolve("gpt2.gguf");
        m.write(p);
        assertModelBad(p, "unsupported architecture", "gpt2");
    }

    @ParameterizedTest
    @ValueSource(strings = {"blk.0.ffn_down.weight", "token_embd.weight"})
    void unsupportedTensorType(String tensor) throws IOException {
        // Q2_K parses fine (the reader knows its block size) but the engine cannot compute with it.
        TinyLlama m = new TinyLlama();
        if (tensor.startsWith("blk")) {
            m.ff = 256; // Q2_K rows must be a multiple of 256: ffn_down's rows have ff elements
        }
        m.typeOverride.put(tensor, GgmlType.Q2_K);
        Path p = dir.resolve("q2k.gguf");
        if (tensor.equals("token_embd.weight")) {
            // token_embd rows have D = 32 elements, too short for Q2_K: the reader already refuses it.
            assertThatThrownBy(() -> m.write(p)).isInstanceOf(IllegalArgumentException.class);
            m.typeOverride.put(tensor, GgmlType.Q5_0); // a 32-element block type that is not supported
        }
        m.write(p);
        assertModelBad(p, tensor, "not supported");
    }

    @Test
    void tokenTypeArrayShorterThanTheVocabulary() throws IOException {
        TinyLlama m = new TinyLlama();
        m.extraMetadata.put("tokenizer.ggml.token_type", GgufValue.ofInts(new int[] {2, 3, 3}));
        Path p = dir.resolve("tt.gguf");
        m.write(p);
        assertModelBad(p, "token_type");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {"tokenizer.ggml.model", "tokenizer.ggml.bos_token_id", "llama.attention.layer_norm_rms_epsilon"})
    void otherMetadataOfTheWrongType(String key) throws IOException {
        TinyLlama m = new TinyLlama();
        m.extraMetadata.put(
                key, key.equals("tokenizer.ggml.model") ? GgufValue.ofUint32(7) : GgufValue.ofString("seven"));
        Path p = dir.resolve("wrongtype.gguf");
        m.write(p);
        assertModelBad(p, "malformed metadata");
    }

    @Test
    void architectureOfTheWrongType() throws IOException {
        // A metadata value of the wrong type is a bad file too, not an IllegalStateException.
        TinyLlama m = new TinyLlama();
        m.extraMetadata.put("general.architecture", GgufValue.ofUint32(1));
        Path p = dir.resolve("archtype.gguf");
        m.write(p);
        assertModelBad(p, "general.architecture");
    }
}
