package io.razorstream.engine.kernel;

import io.razorstream.engine.attention.Scores;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The native kernel tier, every instruction-set variant this CPU runs, against the scalar definition (dequantised row
 * times the input's effective values, in double) for every covered type, with odd row counts, odd token counts and
 * column counts that leave vector tails; decode (one token) and prefill (many) must agree bit for bit, whatever the row
 * split; and the C code must stay inside its segments.
 */
class NativeKernelTest {
    @BeforeAll
    static void nativeTierBuilt() {
        Assumptions.assumeTrue(
                NativeKernels.available(), "native kernels unavailable here: " + NativeKernels.unavailableReason());
    }

    static final GgmlType[] TYPES = {
        GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.F16, GgmlType.BF16
    };

    static int[] colsFor(GgmlType t) {
        return switch (t.blockSize()) {
            case 1 -> new int[] {1, 7, 8, 9, 33, 100, 257};
            case 32 -> new int[] {32, 96, 160, 288};
            default -> new int[] {256, 768};
        };
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (NativeKernels.Variant v : NativeKernels.variants()) {
            for (GgmlType t : TYPES) for (int c : colsFor(t)) out.add(Arguments.of(v.isa(), t, c));
        }
        return out.stream();
    }

    static NativeKernels.Variant variant(String isa) {
        return NativeKernels.variants().stream()
                .filter(v -> v.isa().equals(isa))
                .findFirst()
                .orElseThrow();
    }

    /** Random weight bytes of a type: quantised gaussians, or random K-quant blocks with sane f16 scales. */
    static byte[] weights(GgmlType type, int rows, int cols, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        if (type.blockSize() != KQuants.QK_K) return Quantizer.quantize(type, KernelTest.gaussian(rnd, rows * cols, 1));
        byte[] bytes = new byte[(int) type.bytesFor((long) rows * cols)];
        for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) rnd.nextInt(256);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int at = 0; at < bytes.length; at += type.blockBytes()) {
            if (type == GgmlType.Q6_K) {
                b.putShort(at + 208, Numerics.floatToF16((float) (0.01 * (1 + rnd.nextDouble()))));
            } else {
                b.putShort(at, Numerics.floatToF16((float) (0.01 * (1 + rnd.nextDouble()))));
                b.putShort(at + 2, Numerics.floatToF16((float) (0.005 * rnd.nextDouble())));
            }
        }
        return bytes;
    }

    static Activation[] inputs(WeightMatrix m, int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Activation[] a = new Activation[n];
        for (int t = 0; t < n; t++)
            a[t] = NativeKernels.prepare(m.type(), KernelTest.gaussian(rnd, m.cols(), t == 2 ? 300 : 1), m.cols());
        return a;
    }

    /** out[t][r] by one native call over rows [r0, r1) and all n inputs. */
    static float[][] run(NativeKernels.Variant v, WeightMatrix m, Activation[] a, int r0, int r1) {
        int n = a.length, width = r1 - r0;
        float[] flat = new float[n * width];
        NativeKernels.gemm(
                v, m, r0, r1, NativeKernels.batch(m.type(), a, n, m.cols()), n, MemorySegment.ofArray(flat), 0, width);
        float[][] out = new float[n][width];
        for (int t = 0; t < n; t++) System.arraycopy(flat, t * width, out[t], 0, width);
        return out;
    }

    @ParameterizedTest(name = "{0} {1} cols={2}")
    @MethodSource("cases")
    void everyKernelMatchesTheScalarDefinition(String isa, GgmlType type, int cols) {
        NativeKernels.Variant v = variant(isa);
        int rows = 7, n = 5; // one full 4-row tile and three single rows; 2-token tiles and a single token
        WeightMatrix m = WeightMatrix.of(
                type, MemorySegment.ofArray(weights(type, rows, cols, 17L * cols + type.code())), rows, cols);
        Activation[] a = inputs(m, n, cols);
        float[][] all = run(v, m, a, 0, rows);
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++) {
                float[] w = new float[cols];
                m.dequantizeRow(r, w, 0);
                double exact = 0, abs = 0;
                for (int i = 0; i < cols; i++) {
                    double p = (double) w[i] * a[t].effective(i);
                    exact += p;
                    abs += Math.abs(p);
                }
                // float products and sums: a few ulps of the absolute sum per term of the summation depth
                assertThat((double) all[t][r])
                        .as("row %d token %d", r, t)
                        .isCloseTo(exact, Offset.offset(abs * 1e-6 * Math.sqrt(cols) + 1e-30));
                // decode (one row, one token) equals prefill bit for bit
                assertThat(run(v, m, new Activation[] {a[t]}, r, r + 1)[0][0]).isEqualTo(all[t][r]);
            }
        }
        // any row split gives the same numbers
        float[][] lo = run(v, m, a, 0, 3), hi = run(v, m, a, 3, rows);
        for (int t = 0; t < n; t++) {
            float[] joined = new float[rows];
            System.arraycopy(lo[t], 0, joined, 0, 3);
            System.arraycopy(hi[t], 0, joined, 3, rows - 3);
            assertThat(joined).isEqualTo(all[t]);
        }
    }

    /**
     * The integer paths of all variants give the same bits (no saturation anywhere), so a jar's results do not depend
     * on the host's ISA.
     */
    @Test
    void allVariantsAgreeBitForBit() {
        Assumptions.assumeTrue(
                NativeKernels.variants().size() > 1,
                "only the "
                        + NativeKernels.variants().stream()
                                .map(NativeKernels.Variant::isa)
                                .toList() + " variant runs on this host: nothing to compare it with");
        for (GgmlType type : TYPES) {
            int cols = type.blockSize() == 1 ? 257 : 768;
            WeightMatrix m = WeightMatrix.of(type, MemorySegment.ofArray(weights(type, 9, cols, 5)), 9, cols);
            Activation[] a = inputs(m, 3, 6);
            float[][] first = run(NativeKernels.variants().get(0), m, a, 0, 9);
            for (NativeKernels.Variant v :
                    NativeKernels.variants().subList(1, NativeKernels.variants().size()))
                assertThat(run(v, m, a, 0, 9)).as(type + " " + v.isa()).isDeepEqualTo(first);
        }
    }

    /**
     * Matrix-matrix results equal one token at a time (the decode path) for every token count, on every variant: the
     * avx512 variant's Q8_0 tiles hold two tokens per 512-bit register, in tiles of 8, 6, 4 and 2 tokens plus a lone
     * one.
     */
    @Test
    void tilesOfAnyTokenCountEqualOneTokenAtATime() {
        for (GgmlType type : TYPES) {
            int rows = 11, cols = type.blockSize() == 1 ? 257 : 512;
            WeightMatrix m = WeightMatrix.of(type, MemorySegment.ofArray(weights(type, rows, cols, 7)), rows, cols);
            for (NativeKernels.Variant v : NativeKernels.variants()) {
                for (int n : new int[] {4, 5, 6, 7, 8, 9, 12, 15, 16, 19}) {
                    Activation[] a = inputs(m, n, 40 + n);
                    float[][] all = run(v, m, a, 0, rows), part = run(v, m, a, 2, rows);
                    for (int t = 0; t < n; t++) {
                        float[] alone = run(v, m, new Activation[] {a[t]}, 0, rows)[0];
                        assertThat(all[t])
                                .as("%s %s, token %d of %d", type, v.isa(), t, n)
                                .isEqualTo(alone);
                        assertThat(part[t]).isEqualTo(Arrays.copyOfRange(alone, 2, rows));
                    }
                }
            }
        }
    }

    /** The native inputs carry exactly the Java tier's quantised values. */
    @Test
    void nativeInputsQuantiseAsTheJavaTier() {
        float[] x = KernelTest.gaussian(new SplittableRandom(4), 512, 2);
        for (GgmlType type : TYPES) {
            WeightMatrix m = WeightMatrix.of(type, MemorySegment.ofArray(weights(type, 1, 512, 1)), 1, 512);
            Activation nat = NativeKernels.prepare(type, x, 512), java = m.prepareJava(x);
            for (int i = 0; i < 512; i++)
                assertThat(nat.effective(i)).as(type + " element " + i).isEqualTo(java.effective(i));
        }
    }

    /**
     * Bounds: weights and inputs that end exactly at the end of a file mapping (a read past them would fault), outputs
     * between sentinels (a write outside the asked range would show), and calls whose ranges do not fit are refused
     * before any native code runs.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variantNames")
    void staysInsideItsSegments(String isa, @org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        NativeKernels.Variant v = variant(isa);
        for (GgmlType type : TYPES) {
            int rows = 5, cols = type.blockSize() == 1 ? 33 : type.blockSize() == 32 ? 96 : 256, n = 3;
            try (Arena arena = Arena.ofConfined()) {
                WeightMatrix m = WeightMatrix.of(
                        type, atMappingEnd(dir, type + ".w", weights(type, rows, cols, 2), arena), rows, cols);
                Activation[] a = inputs(m, n, 8);
                MemorySegment heapBatch = NativeKernels.batch(type, a, n, cols);
                byte[] batchBytes = heapBatch.toArray(ValueLayout.JAVA_BYTE);
                MemorySegment in = atMappingEnd(dir, type + ".in", batchBytes, arena);
                float[] out = new float[2 + n * rows + 2];
                Arrays.fill(out, Float.NaN);
                NativeKernels.gemm(v, m, 0, rows, in, n, MemorySegment.ofArray(out), 2, rows);
                assertThat(out[0]).isNaN();
                assertThat(out[1]).isNaN();
                assertThat(out[out.length - 2]).isNaN();
                assertThat(out[out.length - 1]).isNaN();
                for (int i = 2; i < 2 + n * rows; i++) assertThat(out[i]).isFinite();

                MemorySegment o = MemorySegment.ofArray(new float[n * rows]);
                assertThatThrownBy(() -> NativeKernels.gemm(v, m, 0, rows + 1, in, n, o, 0, rows))
                        .isInstanceOf(IndexOutOfBoundsException.class);
                assertThatThrownBy(() -> NativeKernels.gemm(v, m, 0, rows, in.asSlice(1), n, o, 0, rows))
                        .isInstanceOf(IndexOutOfBoundsException.class);
                assertThatThrownBy(() -> NativeKernels.gemm(v, m, 0, rows, in, n, o, 1, rows))
                        .isInstanceOf(IndexOutOfBoundsException.class);
                assertThatThrownBy(() -> NativeKernels.gemm(v, m, 0, rows, in, n, o, 0, rows - 1))
                        .isInstanceOf(IndexOutOfBoundsException.class);
            }
        }
    }

    static Stream<String> variantNames() {
        return NativeKernels.variants().stream().map(NativeKernels.Variant::isa);
    }

    /** {@code bytes} mapped read-only so that they end exactly where a file mapping ends (on a page boundary). */
    static MemorySegment atMappingEnd(Path dir, String name, byte[] bytes, Arena arena) throws IOException {
        int page = 4096;
        int size = (bytes.length + page - 1) / page * page;
        byte[] file = new byte[size];
        System.arraycopy(bytes, 0, file, size - bytes.length, bytes.length);
        Path p = dir.resolve(name);
        Files.write(p, file);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena).asSlice(size - bytes.length);
        }
    }

    static Stream<Arguments> attentionCases() {
        List<Arguments> out = new ArrayList<>();
        for (NativeKernels.Variant v : NativeKernels.variants()) {
            for (int[] c : new int[][] {
                {1, 8, 1}, {8, 64, 1}, {8, 64, 7}, {8, 64, 33}, {4, 128, 100}, {7, 72, 65}, {16, 256, 40}, {3, 136, 9}
            }) {
                out.add(Arguments.of(v.isa(), c[0], c[1], c[2]));
            }
        }
        return out.stream();
    }

    static Stream<Arguments> causalCases() {
        List<Arguments> out = new ArrayList<>();
        for (NativeKernels.Variant v : NativeKernels.variants()) {
            for (int[] c : new int[][] {
                {1, 8, 1, 1},
                {8, 64, 1, 16},
                {8, 64, 30, 5},
                {4, 128, 100, 16},
                {7, 72, 33, 9},
                {1, 256, 64, 16},
                {16, 64, 3, 40}
            }) {
                out.add(Arguments.of(v.isa(), c[0], c[1], c[2], c[3]));
            }
        }
        return out.stream();
    }

    /**
     * The chunk kernel (a FULL head's attention for consecutive tokens, each over one more row) gives every token
     * exactly, bit for bit, what the one-token kernel gives it over its rows, with and without F16 probabilities and a
     * softcap.
     */
    @ParameterizedTest(name = "{0} group={1} head={2} first={3} tokens={4}")
    @MethodSource("causalCases")
    void theChunkKernelEqualsOneTokenAtATime(String isa, int group, int hs, int first, int tokens) {
        NativeKernels.Variant v = variant(isa);
        SplittableRandom rnd = new SplittableRandom(7L * first + tokens + hs);
        int rows = first + tokens - 1;
        float[] q = KernelTest.gaussian(rnd, tokens * group * hs, 1),
                k = KernelTest.gaussian(rnd, rows * hs, 1),
                val = KernelTest.gaussian(rnd, rows * hs, 1);
        float scale = (float) (1 / Math.sqrt(hs));
        for (boolean f16 : new boolean[] {false, true}) {
            for (float softcap : new float[] {0, 30}) {
                float[] chunk = new float[tokens * group * hs];
                NativeKernels.attendCausal(
                        v,
                        MemorySegment.ofArray(q),
                        tokens,
                        group,
                        hs,
                        MemorySegment.ofArray(k),
                        MemorySegment.ofArray(val),
                        first,
                        scale,
                        softcap,
                        f16,
                        MemorySegment.ofArray(new float[(int) NativeKernels.causalScratch(tokens, group, first)]),
                        MemorySegment.ofArray(chunk));
                for (int t = 0; t < tokens; t++) {
                    float[] one = new float[group * hs];
                    NativeKernels.attend(
                            v,
                            MemorySegment.ofArray(Arrays.copyOfRange(q, t * group * hs, (t + 1) * group * hs)),
                            group,
                            hs,
                            MemorySegment.ofArray(k),
                            MemorySegment.ofArray(val),
                            first + t,
                            null,
                            null,
                            0,
                            0,
                            null,
                            null,
                            0,
                            scale,
                            softcap,
                            f16,
                            MemorySegment.ofArray(new float[NativeKernels.attentionScratch(group, first + t)]),
                            MemorySegment.ofArray(one),
                            0);
                    assertThat(Arrays.copyOfRange(chunk, t * group * hs, (t + 1) * group * hs))
                            .as("token %d (f16 %s, softcap %s)", t, f16, softcap)
                            .isEqualTo(one);
                }
            }
        }
    }

    /**
     * The attention kernel against the plain definition in double (scores, softmax, weighted values), for group sizes,
     * head sizes and lengths that leave partial tiles and partial 8-position runs; the output outside the group's rows
     * is left alone.
     */
    @ParameterizedTest(name = "{0} group={1} head={2} len={3}")
    @MethodSource("attentionCases")
    void attentionMatchesThePlainSoftmax(String isa, int group, int hs, int len) {
        NativeKernels.Variant v = variant(isa);
        SplittableRandom rnd = new SplittableRandom(31L * len + hs + group);
        float[] q = KernelTest.gaussian(rnd, group * hs, 1),
                k = KernelTest.gaussian(rnd, len * hs, 1),
                val = KernelTest.gaussian(rnd, len * hs, 1);
        if (len > 20) for (int i = 0; i < hs; i++) k[17 * hs + i] = 4 * q[i]; // one dominant position for head 0
        float scale = (float) (1 / Math.sqrt(hs));
        float[] out = new float[group * hs + 10];
        Arrays.fill(out, Float.NaN);
        NativeKernels.attend(v, q, group, hs, k, val, len, scale, 0, false, out, 5);
        for (int g = 0; g < group; g++) {
            double[] s = new double[len];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int p = 0; p < len; p++) {
                for (int i = 0; i < hs; i++) s[p] += (double) q[g * hs + i] * k[p * hs + i];
                s[p] *= scale;
                max = Math.max(max, s[p]);
            }
            for (int p = 0; p < len; p++) sum += s[p] = Math.exp(s[p] - max);
            for (int i = 0; i < hs; i++) {
                double o = 0, abs = 0;
                for (int p = 0; p < len; p++) {
                    o += s[p] / sum * val[p * hs + i];
                    abs += s[p] / sum * Math.abs(val[p * hs + i]);
                }
                assertThat((double) out[5 + g * hs + i])
                        .as("head %d element %d", g, i)
                        .isCloseTo(o, Offset.offset(2e-6 * abs * Math.sqrt(hs) + 1e-7));
            }
        }
        for (int i : new int[] {0, 4, 5 + group * hs, out.length - 1})
            assertThat(out[i]).isNaN();
    }

    /**
     * The definition the native kernel follows, in float as the Java tier computes it: logits (softcapped, scaled, the
     * extra row biased), softmax summed in double, probabilities rounded to F16 when asked, values weighted.
     */
    static float[] attentionDefinition(
            float[] q,
            int group,
            int hs,
            float[][] keys,
            float[][] values,
            float bias,
            boolean biased,
            float scale,
            float softcap,
            boolean round) {
        int n = keys.length;
        float[] out = new float[group * hs];
        Scores scores = new Scores(scale, softcap, round);
        for (int g = 0; g < group; g++) {
            float[] p = new float[n];
            for (int r = 0; r < n; r++) {
                double dot = 0;
                for (int i = 0; i < hs; i++) dot += (double) q[g * hs + i] * keys[r][i];
                p[r] = scores.logit((float) dot) + (biased && r == n - 1 ? bias : 0);
            }
            Ops.softmax(p, n);
            if (round) for (int r = 0; r < n; r++) p[r] = Numerics.roundToF16(p[r]);
            for (int r = 0; r < n; r++) for (int i = 0; i < hs; i++) out[g * hs + i] += p[r] * values[r][i];
        }
        return out;
    }

    /**
     * Two runs of rows (the second read from an offset) and a biased extra row, as a window head passes its sinks, its
     * window and its compensation token; softcapped logits large enough for the cap to matter; probabilities rounded to
     * F16 or not. Without rounding the kernel agrees with the definition to float accuracy; with it, to one F16 step of
     * a probability (a probability on a rounding boundary may go either way), and it is nearer the rounded definition
     * than the unrounded one.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variantNames")
    void attentionOverRunsWithSoftcapAndRoundingFollowsTheDefinition(String isa) {
        NativeKernels.Variant v = variant(isa);
        int group = 4, hs = 64, n0 = 3, from1 = 5, n1 = 21;
        SplittableRandom rnd = new SplittableRandom(7);
        float[] q = KernelTest.gaussian(rnd, group * hs, 2f),
                sinkK = KernelTest.gaussian(rnd, n0 * hs, 2f),
                sinkV = KernelTest.gaussian(rnd, n0 * hs, 1);
        float[] winK = KernelTest.gaussian(rnd, (from1 + n1) * hs, 2f),
                winV = KernelTest.gaussian(rnd, (from1 + n1) * hs, 1);
        float[] extraK = KernelTest.gaussian(rnd, hs, 2f), extraV = KernelTest.gaussian(rnd, hs, 1);
        float[][] keys = new float[n0 + n1 + 1][], values = new float[n0 + n1 + 1][];
        for (int r = 0; r < n0; r++) {
            keys[r] = Arrays.copyOfRange(sinkK, r * hs, (r + 1) * hs);
            values[r] = Arrays.copyOfRange(sinkV, r * hs, (r + 1) * hs);
        }
        for (int r = 0; r < n1; r++) {
            keys[n0 + r] = Arrays.copyOfRange(winK, (from1 + r) * hs, (from1 + r + 1) * hs);
            values[n0 + r] = Arrays.copyOfRange(winV, (from1 + r) * hs, (from1 + r + 1) * hs);
        }
        keys[n0 + n1] = extraK;
        values[n0 + n1] = extraV;
        float bias = (float) Math.log(9), scale = 0.125f, softcap = 8f;
        for (boolean round : new boolean[] {false, true}) {
            float[] out = new float[group * hs + 2];
            Arrays.fill(out, Float.NaN);
            NativeKernels.attend(
                    v,
                    MemorySegment.ofArray(q),
                    group,
                    hs,
                    MemorySegment.ofArray(sinkK),
                    MemorySegment.ofArray(sinkV),
                    n0,
                    MemorySegment.ofArray(winK),
                    MemorySegment.ofArray(winV),
                    from1,
                    n1,
                    MemorySegment.ofArray(extraK),
                    MemorySegment.ofArray(extraV),
                    bias,
                    scale,
                    softcap,
                    round,
                    MemorySegment.ofArray(new float[NativeKernels.attentionScratch(group, n0 + n1 + 1)]),
                    MemorySegment.ofArray(out),
                    1);
            float[] expected = attentionDefinition(q, group, hs, keys, values, bias, true, scale, softcap, round);
            float[] otherRounding = attentionDefinition(q, group, hs, keys, values, bias, true, scale, softcap, !round);
            float[] uncapped = attentionDefinition(q, group, hs, keys, values, bias, true, scale, 0, round);
            float[] unbiased = attentionDefinition(q, group, hs, keys, values, 0, true, scale, softcap, round);
            double err = 0, errOther = 0, errUncapped = 0, errUnbiased = 0;
            for (int i = 0; i < group * hs; i++) {
                double got = out[1 + i];
                assertThat(got)
                        .as("%s round=%s element %d", isa, round, i)
                        .isCloseTo(expected[i], Offset.offset(round ? 2e-3 : 2e-5));
                err += Math.abs(got - expected[i]);
                errOther += Math.abs(got - otherRounding[i]);
                errUncapped = Math.max(errUncapped, Math.abs(got - uncapped[i]));
                errUnbiased = Math.max(errUnbiased, Math.abs(got - unbiased[i]));
            }
            assertThat(err)
                    .as("%s round=%s: nearer its own rounding", isa, round)
                    .isLessThan(errOther);
            assertThat(errUncapped).as("the cap matters here").isGreaterThan(1e-2);
            assertThat(errUnbiased).as("the bias matters here").isGreaterThan(1e-2);
            assertThat(out[0]).isNaN();
            assertThat(out[out.length - 1]).isNaN();
        }
    }

    @Test
    void attentionRefusesWhatItCannotHold() {
        NativeKernels.Variant v = NativeKernels.variants().get(0);
        float[] a = new float[64 * 64];
        assertThatThrownBy(() -> NativeKernels.attend(v, a, 8, 64, a, a, 65, 1, 0, false, a, 0))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> NativeKernels.attend(v, a, 8, 60, a, a, 4, 1, 0, false, a, 0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> NativeKernels.attend(v, a, 17, 64, a, a, 4, 1, 0, false, a, 0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> NativeKernels.attend(v, a, 8, 64, a, a, 4, 1, 0, false, a, 64 * 64 - 8 * 64 + 1))
                .isInstanceOf(IndexOutOfBoundsException.class);
    }

    /**
     * Preparing into an earlier input overwrites all of it (an all-zero block included) and gives the bits of a fresh
     * one.
     */
    @Test
    void aReusedInputEqualsAFreshOne() {
        for (GgmlType type : TYPES) {
            float[] first = KernelTest.gaussian(new SplittableRandom(1), 512, 3),
                    second = KernelTest.gaussian(new SplittableRandom(2), 512, 1);
            Arrays.fill(second, 256, 512, 0f);
            Activation reused = NativeKernels.prepare(type, first, 512, null);
            Activation again = NativeKernels.prepare(type, second, 512, reused),
                    fresh = NativeKernels.prepare(type, second, 512, null);
            assertThat(again).as(type.toString()).isSameAs(reused);
            for (int i = 0; i < 512; i++)
                assertThat(again.effective(i)).as(type + " element " + i).isEqualTo(fresh.effective(i));
            if (fresh.packed() != null) assertThat(again.packed()).isEqualTo(fresh.packed());
        }
    }
}
