package io.razorstream.engine.gguf;

import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Quantizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Whatever GgufWriter writes, GgufFile must read back bit for bit: every metadata value type (with its type, so that
 * UINT32 and INT32 stay distinct), nested and empty arrays, the alignment, the tensor table and the tensor bytes. Run
 * for both supported versions and several alignments.
 */
class GgufRoundTripTest {

    @TempDir
    Path dir;

    // ---- value helpers -------------------------------------------------------------------------

    private static GgufValue v(GgufValueType t, Object o) {
        return new GgufValue(t, o);
    }

    private static GgufValue arr(GgufValueType elementType, GgufValue... elements) {
        return v(GgufValueType.ARRAY, new GgufArray(elementType, List.of(elements)));
    }

    /** One entry per value type, edge values included (unsigned maxima, -0.0, NaN, subnormals, non-ASCII). */
    static Map<String, GgufValue> allValueTypes() {
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("t.uint8.max", v(GgufValueType.UINT8, (byte) 0xFF));
        m.put("t.uint8.zero", v(GgufValueType.UINT8, (byte) 0));
        m.put("t.int8.min", v(GgufValueType.INT8, Byte.MIN_VALUE));
        m.put("t.uint16.max", v(GgufValueType.UINT16, (short) 0xFFFF));
        m.put("t.int16.min", v(GgufValueType.INT16, Short.MIN_VALUE));
        m.put("t.uint32.max", v(GgufValueType.UINT32, 0xFFFF_FFFF));
        m.put("t.int32.min", v(GgufValueType.INT32, Integer.MIN_VALUE));
        m.put("t.int32.minus1", v(GgufValueType.INT32, -1));
        m.put("t.uint64.max", v(GgufValueType.UINT64, -1L));
        m.put("t.int64.min", v(GgufValueType.INT64, Long.MIN_VALUE));
        m.put("t.int64.max", v(GgufValueType.INT64, Long.MAX_VALUE));
        m.put("t.float32", v(GgufValueType.FLOAT32, 3.1415927f));
        m.put("t.float32.negzero", v(GgufValueType.FLOAT32, -0.0f));
        m.put("t.float32.nan", v(GgufValueType.FLOAT32, Float.NaN));
        m.put("t.float32.subnormal", v(GgufValueType.FLOAT32, Float.MIN_VALUE));
        m.put("t.float32.inf", v(GgufValueType.FLOAT32, Float.NEGATIVE_INFINITY));
        m.put("t.float64", v(GgufValueType.FLOAT64, Math.E));
        m.put("t.float64.subnormal", v(GgufValueType.FLOAT64, Double.MIN_VALUE));
        m.put("t.float64.negzero", v(GgufValueType.FLOAT64, -0.0));
        m.put("t.bool.true", v(GgufValueType.BOOL, true));
        m.put("t.bool.false", v(GgufValueType.BOOL, false));
        m.put("t.string", GgufValue.ofString("héllo 你好 🦙"));
        m.put("t.string.empty", GgufValue.ofString(""));
        m.put("t.string.controls", GgufValue.ofString("a\nb\tc\u0000d"));
        m.put("t.string.long", GgufValue.ofString("x".repeat(70_000))); // larger than the writer's first buffer
        m.put("", GgufValue.ofString("empty key"));
        m.put("t.key.ünïcødé", GgufValue.ofBool(true));
        // arrays of every scalar type
        m.put("a.uint8", arr(GgufValueType.UINT8, v(GgufValueType.UINT8, (byte) 1), v(GgufValueType.UINT8, (byte)
                0xFE)));
        m.put("a.int8", arr(GgufValueType.INT8, v(GgufValueType.INT8, (byte) -1)));
        m.put("a.uint16", arr(GgufValueType.UINT16, v(GgufValueType.UINT16, (short) 40000)));
        m.put("a.int16", arr(GgufValueType.INT16, v(GgufValueType.INT16, (short) -2), v(GgufValueType.INT16, (short)
                3)));
        m.put("a.uint32", arr(GgufValueType.UINT32, v(GgufValueType.UINT32, 7), v(GgufValueType.UINT32, 0x8000_0000)));
        m.put("a.int32", GgufValue.ofInts(new int[] {1, -2, 3, Integer.MAX_VALUE}));
        m.put("a.uint64", arr(GgufValueType.UINT64, v(GgufValueType.UINT64, 1L << 63)));
        m.put("a.int64", arr(GgufValueType.INT64, v(GgufValueType.INT64, -5L), v(GgufValueType.INT64, 6L)));
        m.put("a.float32", GgufValue.ofFloats(new float[] {0.5f, -0.0f, Float.MAX_VALUE}));
        m.put(
                "a.float64",
                arr(GgufValueType.FLOAT64, v(GgufValueType.FLOAT64, 1e300), v(GgufValueType.FLOAT64, -1e-300)));
        m.put(
                "a.bool",
                arr(
                        GgufValueType.BOOL,
                        v(GgufValueType.BOOL, true),
                        v(GgufValueType.BOOL, false),
                        v(GgufValueType.BOOL, true)));
        m.put("a.string", GgufValue.ofStrings(List.of("", "▁the", "<0x0A>", "🦙")));
        // empty arrays: their element type must survive although no element shows it
        m.put("a.empty.int32", arr(GgufValueType.INT32));
        m.put("a.empty.string", arr(GgufValueType.STRING));
        m.put("a.empty.array", arr(GgufValueType.ARRAY));
        // nested arrays (arrays of arrays, including empty inner arrays and a third level)
        m.put(
                "a.nested",
                arr(
                        GgufValueType.ARRAY,
                        GgufValue.ofInts(new int[] {1, 2}),
                        arr(GgufValueType.INT32),
                        GgufValue.ofInts(new int[] {3})));
        m.put(
                "a.nested.mixed",
                arr(
                        GgufValueType.ARRAY,
                        GgufValue.ofStrings(List.of("a", "b")),
                        GgufValue.ofFloats(new float[] {1.5f}),
                        arr(GgufValueType.BOOL)));
        m.put(
                "a.nested3",
                arr(
                        GgufValueType.ARRAY,
                        arr(GgufValueType.ARRAY, GgufValue.ofStrings(List.of("deep")), arr(GgufValueType.UINT8)),
                        arr(GgufValueType.ARRAY)));
        return m;
    }

    record TensorSpec(String name, GgmlType type, long[] shape) {
        long elements() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    /** 1-D to 4-D tensors of every supported type; block types need a first dimension multiple of 32. */
    static List<TensorSpec> tensorSpecs() {
        return List.of(
                new TensorSpec("f32.1d", GgmlType.F32, new long[] {7}),
                new TensorSpec("f32.single", GgmlType.F32, new long[] {1}),
                new TensorSpec("f16.2d", GgmlType.F16, new long[] {5, 3}),
                new TensorSpec("bf16.3d", GgmlType.BF16, new long[] {3, 2, 4}),
                new TensorSpec("q8_0.2d", GgmlType.Q8_0, new long[] {64, 3}),
                new TensorSpec("q8_0.1d", GgmlType.Q8_0, new long[] {32}),
                new TensorSpec("q4_0.3d", GgmlType.Q4_0, new long[] {32, 2, 2}),
                new TensorSpec("q4_0.2d", GgmlType.Q4_0, new long[] {96, 5}),
                new TensorSpec("f16.4d", GgmlType.F16, new long[] {2, 1, 3, 2}),
                new TensorSpec("blk.0.attn_q.weight", GgmlType.F32, new long[] {3, 3}));
    }

    static Stream<Arguments> versionsAndAlignments() {
        List<Arguments> out = new ArrayList<>();
        for (int version : new int[] {2, 3}) {
            for (int alignment : new int[] {0 /* default, no key written */, 1, 64, 256})
                out.add(Arguments.of(version, alignment));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "version {0}, alignment {1}")
    @MethodSource("versionsAndAlignments")
    void everythingWrittenIsReadBack(int version, int alignment) throws IOException {
        SplittableRandom rnd = new SplittableRandom(version * 1000L + alignment);
        GgufWriter w = new GgufWriter().version(version);
        if (alignment > 0) w.alignment(alignment);
        Map<String, GgufValue> values = allValueTypes();
        values.forEach(w::put);
        Map<String, byte[]> bytes = new LinkedHashMap<>();
        for (TensorSpec t : tensorSpecs()) {
            float[] x = new float[(int) t.elements()];
            for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * 3);
            byte[] b = Quantizer.quantize(t.type(), x);
            bytes.put(t.name(), b);
            w.addTensor(t.name(), t.type(), t.shape(), b);
        }
        Path file = dir.resolve("rt.gguf");
        w.write(file);
        int effectiveAlignment = alignment > 0 ? alignment : GgufFile.DEFAULT_ALIGNMENT;

        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.version()).isEqualTo(version);
            assertThat(g.alignment()).isEqualTo(effectiveAlignment);
            assertThat(g.path()).isEqualTo(file);

            // Metadata: same keys in the same order, each with the same type and value.
            List<String> expectedKeys = new ArrayList<>();
            if (alignment > 0) expectedKeys.add(GgufFile.ALIGNMENT_KEY);
            expectedKeys.addAll(values.keySet());
            assertThat(g.metadata().keySet()).containsExactlyElementsOf(expectedKeys);
            if (alignment > 0) {
                assertThat(g.get(GgufFile.ALIGNMENT_KEY)).isEqualTo(GgufValue.ofUint32(alignment));
            }
            for (var e : values.entrySet()) {
                GgufValue got = g.get(e.getKey());
                // GgufValue/GgufArray are records: equals compares the type tag and the boxed value
                // (Float/Double equals is bitwise, so -0.0 vs 0.0 would be caught).
                assertThat(got).as(e.getKey()).isEqualTo(e.getValue());
                assertThat(got.type()).as(e.getKey()).isEqualTo(e.getValue().type());
            }

            // Tensor table: same order, names, types, shapes; offsets aligned and non-overlapping.
            assertThat(g.tensors().keySet()).containsExactlyElementsOf(bytes.keySet());
            assertThat(g.dataOffset() % effectiveAlignment).isZero();
            long previousEnd = 0;
            for (TensorSpec spec : tensorSpecs()) {
                GgufTensorInfo t = g.tensor(spec.name());
                assertThat(t.type()).as(spec.name()).isEqualTo(spec.type());
                assertThat(t.shape()).as(spec.name()).containsExactly(spec.shape());
                assertThat(t.offset() % effectiveAlignment)
                        .as(spec.name() + " offset")
                        .isZero();
                assertThat(t.offset()).as(spec.name() + " offset").isGreaterThanOrEqualTo(previousEnd);
                previousEnd = t.offset() + t.byteSize();
                byte[] read = g.tensorData(t).toArray(ValueLayout.JAVA_BYTE);
                assertThat(read).as(spec.name() + " bytes").isEqualTo(bytes.get(spec.name()));
            }
            assertThat(g.tensorBytes())
                    .isEqualTo(bytes.values().stream().mapToLong(b -> b.length).sum());
            // The writer pads the file to the alignment, as ggml does.
            assertThat(g.fileSize() % effectiveAlignment).isZero();
            assertThat(g.fileSize()).isEqualTo(Files.size(file));
        }
    }

    @ParameterizedTest(name = "version {0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {2, 3})
    void emptyFileRoundTrips(int version) throws IOException {
        // No metadata and no tensors: the smallest valid file (24-byte header padded to 32).
        Path file = dir.resolve("empty.gguf");
        new GgufWriter().version(version).write(file);
        assertThat(Files.size(file)).isEqualTo(32);
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.version()).isEqualTo(version);
            assertThat(g.metadata()).isEmpty();
            assertThat(g.tensors()).isEmpty();
            assertThat(g.alignment()).isEqualTo(GgufFile.DEFAULT_ALIGNMENT);
        }
    }

    @Test
    void unsignedValuesWidenWithoutSign() throws IOException {
        // The reader keeps unsigned values in signed Java types: asLong must undo that, or a uint32
        // context length of 3e9 would come back negative.
        Path file = dir.resolve("u.gguf");
        new GgufWriter()
                .putUint32("u32", 0xB2D0_5E00)
                .put("u8", v(GgufValueType.UINT8, (byte) 200))
                .put("u16", v(GgufValueType.UINT16, (short) 60000))
                .put("i8", v(GgufValueType.INT8, (byte) -3))
                .write(file);
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.get("u32").asLong()).isEqualTo(3_000_000_000L);
            assertThat(g.get("u8").asLong()).isEqualTo(200);
            assertThat(g.get("u16").asLong()).isEqualTo(60000);
            assertThat(g.get("i8").asLong()).isEqualTo(-3);
            assertThat(g.get("u32").describe(4)).isEqualTo("3000000000");
        }
    }

    @Test
    void largeRandomTensorRoundTrips() throws IOException {
        // A tensor larger than any header buffer, streamed through the TensorData API in small pieces.
        SplittableRandom rnd = new SplittableRandom(7);
        byte[] b = new byte[Math.toIntExact(GgmlType.Q8_0.bytesFor(4096L * 33))];
        rnd.nextBytes(b);
        Path file = dir.resolve("big.gguf");
        new GgufWriter()
                .alignment(64)
                .addTensor("t", GgmlType.Q8_0, new long[] {4096, 33}, out -> {
                    for (int off = 0; off < b.length; off += 1000) {
                        GgufWriter.writeFully(out, ByteBuffer.wrap(b, off, Math.min(1000, b.length - off)));
                    }
                })
                .write(file);
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.tensorData(g.tensor("t")).toArray(ValueLayout.JAVA_BYTE))
                    .isEqualTo(b);
        }
    }

    @Test
    void writerRejectsInconsistentInput() {
        // Mistakes are caught when written, not discovered when read back.
        GgufWriter w = new GgufWriter();
        assertThatThrownBy(() -> w.addTensor("t", GgmlType.F32, new long[] {4}, new byte[15]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("t");
        assertThatThrownBy(() -> w.addTensor("q", GgmlType.Q8_0, new long[] {16}, new byte[17]))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> w.version(1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> w.alignment(48)).isInstanceOf(IllegalArgumentException.class);
        w.addTensor("ok", GgmlType.F32, new long[] {1}, new byte[4]);
        assertThatThrownBy(() -> w.alignment(64)).isInstanceOf(IllegalStateException.class);
        GgufWriter mixed =
                new GgufWriter().put("bad", arr(GgufValueType.INT32, GgufValue.ofInt32(1), GgufValue.ofUint32(2)));
        assertThatThrownBy(() -> mixed.write(dir.resolve("mixed.gguf"))).isInstanceOf(IllegalArgumentException.class);
    }
}
