package io.razorstream.engine.kernel;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The native kernel tier: {@code librazorstream_kernels.so} (engine/src/main/c, built by Maven with gcc and packaged in
 * the jar), called through the FFM API. The library holds one variant per instruction set (AVX2 + FMA + F16C; AVX-512
 * BW/VL + VNNI); {@code rs_cpu_isa} says which this CPU runs and the best one is bound at class initialisation, or a
 * lower one with {@code -Drazorstream.native.isa=avx2}. {@code -Drazorstream.native.library=PATH} loads another file
 * (tests point it at a missing one).
 *
 * <p>Safety: the C code reads and writes only the ranges {@link #gemm} checks here, against the sizes of the segments
 * it is given, before every call. Heap arrays are passed directly ({@link Linker.Option#critical(boolean) critical}
 * calls: no copies, GC held off for the call).
 */
public final class NativeKernels {
    private static final String RESOURCE = "/native/linux-x86_64/librazorstream_kernels.so";
    private static final FunctionDescriptor GEMM = FunctionDescriptor.of(
            JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS,
            JAVA_LONG, JAVA_LONG);

    private static final FunctionDescriptor ATTEND = FunctionDescriptor.of(
            JAVA_INT,
            ADDRESS,
            JAVA_INT,
            JAVA_INT,
            ADDRESS,
            ADDRESS,
            JAVA_INT,
            ADDRESS,
            ADDRESS,
            JAVA_LONG,
            JAVA_INT,
            ADDRESS,
            ADDRESS,
            ValueLayout.JAVA_FLOAT,
            ValueLayout.JAVA_FLOAT,
            ValueLayout.JAVA_FLOAT,
            JAVA_INT,
            ADDRESS,
            ADDRESS,
            JAVA_LONG);
    private static final FunctionDescriptor ATTEND_CAUSAL = FunctionDescriptor.of(
            JAVA_INT,
            ADDRESS,
            JAVA_INT,
            JAVA_INT,
            JAVA_INT,
            ADDRESS,
            ADDRESS,
            JAVA_INT,
            ValueLayout.JAVA_FLOAT,
            ValueLayout.JAVA_FLOAT,
            JAVA_INT,
            ADDRESS,
            ADDRESS);
    /** The attention kernel's limits (attention.c). */
    private static final int MAX_GROUP = 16, MAX_HEAD = 256;

    /** One instruction-set variant of the kernels. */
    public record Variant(String isa, MethodHandle gemm, MethodHandle attend, MethodHandle attendCausal) {}

    /** The library's variants, its repacking function per panel type (the same for every variant), or why not. */
    private record Library(List<Variant> variants, Map<GgmlType, MethodHandle> repack, String error) {}

    /**
     * A matrix as the C code reads it: a type code and either the matrix's own bytes (a ggml type; rows of
     * {@code panelBytes}, {@code panelRows} 1) or a repacked copy whose rows come in panels of {@code panelRows}, each
     * {@code panelBytes} long (kernels.c: the quantised types in 8-row panels).
     */
    record Layout(int code, MemorySegment data, int panelRows, long panelBytes) {
        /** Bytes the C code reads for rows [0, rows). */
        long bytesThrough(int rows) {
            return (rows + panelRows - 1L) / panelRows * panelBytes;
        }
    }

    /** The types the native tier multiplies in 8-row panels; a panel layout's code is PANEL_CODE + the ggml code. */
    private static final Set<GgmlType> PANEL_TYPES =
            EnumSet.of(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);

    private static final int PANEL_CODE = 1000;

    private static final FunctionDescriptor REPACK =
            FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS);

    private static final Library LIBRARY = load();
    /** The variant the engine uses (the best one the CPU runs, or the one asked for); null when unavailable. */
    private static final Variant ACTIVE = pick(LIBRARY);

    private static final String UNAVAILABLE = LIBRARY.error != null
            ? LIBRARY.error
            : ACTIVE == null
                    ? "no variant for razorstream.native.isa=" + System.getProperty("razorstream.native.isa")
                    : null;

    private NativeKernels() {}

    public static boolean available() {
        return ACTIVE != null;
    }

    /** Why the native tier cannot run (null when it can). */
    public static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** The bound variant's instruction set, e.g. "avx2" or "avx512-vnni". */
    public static String isa() {
        return ACTIVE == null ? "none" : ACTIVE.isa;
    }

    /** Every variant this CPU can run, best first (kernel tests check each one). */
    public static List<Variant> variants() {
        return LIBRARY.variants;
    }

    /** Types the native tier multiplies; the rest (F32) stay on the Java tier. */
    static boolean covers(GgmlType type) {
        return switch (type) {
            case Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, F16, BF16 -> true;
            default -> false;
        };
    }

    private static Library load() {
        try {
            Path path = libraryPath();
            SymbolLookup lib = SymbolLookup.libraryLookup(path, Arena.global());
            Linker linker = Linker.nativeLinker();
            MethodHandle cpu = linker.downcallHandle(lib.findOrThrow("rs_cpu_isa"), FunctionDescriptor.of(JAVA_INT));
            int level = (int) cpu.invokeExact();
            if (level == 0) return new Library(List.of(), Map.of(), "this CPU lacks AVX2, FMA or F16C");
            List<Variant> variants = new ArrayList<>();
            Linker.Option critical = Linker.Option.critical(true);
            // attention is 256-bit code compiled once: every variant calls the same functions
            MethodHandle attend = linker.downcallHandle(lib.findOrThrow("rs_attend"), ATTEND, critical);
            MethodHandle attendCausal =
                    linker.downcallHandle(lib.findOrThrow("rs_attend_causal"), ATTEND_CAUSAL, critical);
            if (level >= 2)
                variants.add(new Variant(
                        "avx512-vnni",
                        linker.downcallHandle(lib.findOrThrow("rs_gemm_avx512"), GEMM, critical),
                        attend,
                        attendCausal));
            variants.add(new Variant(
                    "avx2",
                    linker.downcallHandle(lib.findOrThrow("rs_gemm_avx2"), GEMM, critical),
                    attend,
                    attendCausal));
            // once per matrix: critical for the heap segments of the kernel tests, a short pause of the GC at load
            Map<GgmlType, MethodHandle> repack = new EnumMap<>(GgmlType.class);
            for (GgmlType t : PANEL_TYPES) {
                String name = "rs_repack_" + t.name().toLowerCase(Locale.ROOT);
                repack.put(t, linker.downcallHandle(lib.findOrThrow(name), REPACK, critical));
            }
            return new Library(List.copyOf(variants), repack, null);
        } catch (Throwable t) {
            String why = t.getMessage() == null ? t.toString() : t.getMessage();
            return new Library(List.of(), Map.of(), why);
        }
    }

    /** The library file: the override, the class-path file itself, or the jar's copy extracted to a temporary file. */
    private static Path libraryPath() throws IOException, URISyntaxException {
        String override = System.getProperty("razorstream.native.library");
        if (override != null) {
            Path p = Path.of(override);
            if (!Files.isReadable(p)) throw new IOException("library " + p + " does not exist or is not readable");
            return checkedElf(p);
        }
        if (!"amd64".equals(System.getProperty("os.arch"))
                || !System.getProperty("os.name", "").startsWith("Linux")) {
            throw new IOException(
                    "no native kernels for " + System.getProperty("os.name") + "/" + System.getProperty("os.arch"));
        }
        URL url = NativeKernels.class.getResource(RESOURCE);
        if (url == null)
            throw new IOException("this build has no native kernel library (gcc was absent when it was built)");
        if ("file".equals(url.getProtocol())) return Path.of(url.toURI());
        Path tmp = Files.createTempFile("razorstream_kernels", ".so");
        tmp.toFile().deleteOnExit();
        try (InputStream in = url.openStream()) {
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        return tmp;
    }

    /**
     * Refuses a file that is not an ELF object before dlopen sees it: the JVM answers a failed dlopen of such a file
     * with a two-line warning of its own about stack guards, which would hide ours.
     */
    private static Path checkedElf(Path p) throws IOException {
        byte[] head = new byte[4];
        try (InputStream in = Files.newInputStream(p)) {
            if (in.readNBytes(head, 0, 4) < 4
                    || head[0] != 0x7f
                    || head[1] != 'E'
                    || head[2] != 'L'
                    || head[3] != 'F') {
                throw new IOException("library " + p + " is not a shared library (no ELF header)");
            }
        }
        return p;
    }

    private static Variant pick(Library lib) {
        String wanted = System.getProperty("razorstream.native.isa");
        for (Variant v : lib.variants) {
            if (wanted == null || v.isa.equals(wanted) || v.isa.startsWith(wanted + "-")) return v;
        }
        return null;
    }

    // ------------------------------------------------------------------ activations in the C layouts

    /** Bytes of one prepared input of {@code cols} elements for a weight type (see kernels.c). */
    static int inputBytes(GgmlType type, int cols) {
        return switch (type) {
            case Q8_0 -> cols + 4 * (cols / Quantizer.QK);
            // and per block one int32, 8 x the sum of its quants (kernels.c's Q4_0 input)
            case Q4_0 -> cols + 8 * (cols / Quantizer.QK);
            case Q4_K, Q5_K, Q6_K -> cols + 4 * (cols / KQuants.QK_K) + 2 * (cols / 16);
            case F16, BF16 -> 4 * cols;
            default -> throw new IllegalArgumentException(type + " is not covered by the native tier");
        };
    }

    /**
     * {@code x} quantised or rounded for {@code type}'s native kernel, with exactly the Java tier's rules (llama.cpp's:
     * Q8_0 for Q8_0/Q4_0, Q8_K for the K-quants, F16/BF16 rounding for half weights).
     */
    static Activation prepare(GgmlType type, float[] x, int cols) {
        return prepare(type, x, cols, null);
    }

    /** As above, writing into {@code reuse} when it is a native input of the same layout and length. */
    static Activation prepare(GgmlType type, float[] x, int cols, Activation reuse) {
        boolean fits = reuse != null && reuse.isNative() && reuse.length() == cols;
        return switch (type) {
            case Q8_0, Q4_0 -> {
                byte[] out = fits && reuse.packed() != null && reuse.packed().length == inputBytes(type, cols)
                        ? reuse.packed()
                        : null;
                byte[] packed = packQ8_0(type, x, cols, out);
                yield packed == out ? reuse : Activation.packed(packed, Quantizer.QK, cols);
            }
            case Q4_K, Q5_K, Q6_K -> {
                byte[] out = fits && reuse.packed() != null && reuse.packed().length == inputBytes(type, cols)
                        ? reuse.packed()
                        : null;
                byte[] packed = packQ8_K(x, cols, out);
                yield packed == out ? reuse : Activation.packed(packed, KQuants.QK_K, cols);
            }
            case F16, BF16 -> {
                boolean same = fits && reuse.packed() == null;
                float[] r = HalfMatrix.rounded(type, x, cols, same ? reuse.values() : new float[cols]);
                yield same ? reuse : Activation.nativeFloats(r);
            }
            default -> throw new IllegalArgumentException(type + " is not covered by the native tier");
        };
    }

    /** Native-order float and short views of the packed byte arrays (no segment per call). */
    private static final VarHandle FLOAT = MethodHandles.byteArrayViewVarHandle(float[].class, ByteOrder.nativeOrder());

    private static final VarHandle SHORT = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.nativeOrder());

    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.nativeOrder());

    /**
     * int8 q[cols], float d[cols / 32]: as {@link Quantizer#quantizeActivationQ8} (id = 127 / amax, ties to even,
     * F16-rounded scale); for Q4_0 weights then, per block, one int32: 8 x the sum of its q.
     */
    private static byte[] packQ8_0(GgmlType type, float[] x, int cols, byte[] into) {
        if (cols % Quantizer.QK != 0)
            throw new IllegalArgumentException(cols + " is not a multiple of " + Quantizer.QK);
        byte[] out = into != null ? into : new byte[inputBytes(type, cols)];
        int blocks = cols / Quantizer.QK;
        for (int b = 0; b < cols; b += Quantizer.QK) {
            float amax = 0;
            for (int j = 0; j < Quantizer.QK; j++) amax = Math.max(amax, Math.abs(x[b + j]));
            float id = amax != 0 ? 127f / amax : 0f;
            for (int j = 0; j < Quantizer.QK; j++) out[b + j] = (byte) Math.rint(x[b + j] * id);
            FLOAT.set(out, cols + 4 * (b / Quantizer.QK), Numerics.roundToF16(amax / 127f));
            if (type == GgmlType.Q4_0) {
                int sum = 0;
                for (int j = 0; j < Quantizer.QK; j++) sum += out[b + j];
                INT.set(out, cols + 4 * blocks + 4 * (b / Quantizer.QK), 8 * sum);
            }
        }
        return out;
    }

    /**
     * int8 q[cols], float d[cols / 256], int16 sums of q per 16 elements: as {@link KQuants#quantizeActivationQ8K} (the
     * element of largest magnitude maps to -127).
     */
    private static byte[] packQ8_K(float[] x, int cols, byte[] into) {
        if (cols % KQuants.QK_K != 0)
            throw new IllegalArgumentException(cols + " is not a multiple of " + KQuants.QK_K);
        byte[] out = into != null ? into : new byte[inputBytes(GgmlType.Q4_K, cols)];
        int sums = cols + 4 * (cols / KQuants.QK_K);
        for (int b = 0; b < cols; b += KQuants.QK_K) {
            float max = KQuants.largestMagnitude(x, b);
            float d = 0;
            if (max != 0) {
                float iscale = -127f / max;
                for (int j = 0; j < KQuants.QK_K; j++)
                    out[b + j] = (byte) Math.min(127, (int) Math.rint(iscale * x[b + j]));
                d = 1 / iscale;
            } else {
                Arrays.fill(out, b, b + KQuants.QK_K, (byte) 0); // a reused buffer holds older quants
            }
            FLOAT.set(out, cols + 4 * (b / KQuants.QK_K), d);
            for (int g = b; g < b + KQuants.QK_K; g += 16) {
                int s = 0;
                for (int j = 0; j < 16; j++) s += out[g + j];
                SHORT.set(out, sums + 2 * (g / 16), (short) s);
            }
        }
        return out;
    }

    /** Several prepared inputs side by side (for one GEMM call), {@link #inputBytes} apart. */
    static MemorySegment batch(GgmlType type, Activation[] a, int n, int cols) {
        int stride = inputBytes(type, cols);
        byte[] all = new byte[Math.multiplyExact(stride, n)];
        MemorySegment seg = MemorySegment.ofArray(all);
        for (int t = 0; t < n; t++) MemorySegment.copy(a[t].segment(), 0, seg, (long) t * stride, stride);
        return seg;
    }

    // ------------------------------------------------------------------ weights in the C layouts

    /**
     * {@code w} as the C code reads it. Every quantised type (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) is repacked into 8-row
     * panels (repack.c): a copy the size of the matrix (Q4_K and Q5_K: 2.8% and 2.3% more, their scales unpacked),
     * rounded up to whole panels, in memory the garbage collector frees with the layout. The matrix's own bytes (the
     * file mapping) stay for the Java tier and the embedding lookup; the native tier does not read them again, so once
     * copied their pages leave this process's resident set. F16 and BF16 are read where they lie.
     */
    static Layout layout(WeightMatrix w) {
        if (!PANEL_TYPES.contains(w.type)) return new Layout(w.type.code(), w.data, 1, w.rowBytes);
        MethodHandle repack = LIBRARY.repack.get(w.type);
        if (repack == null) throw new IllegalStateException("native kernels unavailable: " + UNAVAILABLE);
        // blocks.h's *_PANEL_BLOCK: eight rows' block (super-block), laid out as kernels.c reads it
        int panelBlock = switch (w.type) {
            case Q4_K -> 1184;
            case Q5_K -> 1440;
            default -> 8 * w.type.blockBytes(); // Q8_0, Q4_0, Q6_K: the same bytes, rearranged
        };
        long panelBytes = (long) w.cols / w.type.blockSize() * panelBlock;
        long bytes = (w.rows + 7L) / 8 * panelBytes;
        MemorySegment panels = Arena.ofAuto().allocate(bytes, 64);
        try {
            repack.invokeExact(w.data, w.rowBytes, w.rows, w.cols, panels);
        } catch (Throwable t) {
            throw new IllegalStateException("native " + w.type + " repacking failed", t);
        }
        // The file's pages were read once for the copy; out of this process's resident set they are page cache the
        // kernel may drop, instead of a second copy of the weights in its RSS (a later read faults them back in).
        if (w.data.isMapped()) w.data.unload();
        return new Layout(PANEL_CODE + w.type.code(), panels, 8, panelBytes);
    }

    // ------------------------------------------------------------------ the call

    /**
     * {@code out[outOffset + t * outStride + (r - r0)] = row r . input t} for rows [r0, r1) of {@code w} and inputs [0,
     * n) of {@code in} ({@code inputBytes} apart), with the bound variant.
     */
    static void gemm(
            WeightMatrix w,
            int r0,
            int r1,
            MemorySegment in,
            int n,
            MemorySegment out,
            long outOffset,
            long outStride) {
        gemm(ACTIVE, w, r0, r1, in, n, out, outOffset, outStride);
    }

    /** As above with a chosen variant (kernel tests run every variant the CPU has). */
    public static void gemm(
            Variant v,
            WeightMatrix w,
            int r0,
            int r1,
            MemorySegment in,
            int n,
            MemorySegment out,
            long outOffset,
            long outStride) {
        if (v == null) throw new IllegalStateException("native kernels unavailable: " + UNAVAILABLE);
        long stride = inputBytes(w.type, w.cols);
        // Everything the C code will touch, checked against the segments it is given.
        if (r0 < 0 || r1 > w.rows || r0 > r1 || n < 0)
            throw new IndexOutOfBoundsException("rows [" + r0 + ", " + r1 + ") of " + w.rows + ", " + n + " inputs");
        if (r0 == r1 || n == 0) return;
        Layout layout = w.nativeLayout();
        if (layout.data().byteSize() < layout.bytesThrough(r1))
            throw new IndexOutOfBoundsException("weights end before row " + r1);
        if (in.byteSize() < stride * n)
            throw new IndexOutOfBoundsException(n + " inputs need " + stride * n + " bytes, got " + in.byteSize());
        long lastOut = outOffset + (n - 1) * outStride + (r1 - r0);
        if (outOffset < 0 || outStride < (n > 1 ? r1 - r0 : 0) || out.byteSize() < 4 * lastOut) {
            throw new IndexOutOfBoundsException("output of " + out.byteSize() / 4 + " floats cannot hold " + lastOut);
        }
        int rc;
        try {
            rc = (int) v.gemm.invokeExact(
                    layout.code(), layout.data(), w.rowBytes, r0, r1, w.cols, in, stride, n, out, outOffset, outStride);
        } catch (Throwable t) {
            throw new IllegalStateException("native kernel call failed", t);
        }
        if (rc != 0) throw new IllegalStateException("native kernels do not cover " + w.type);
    }

    // ------------------------------------------------------------------ attention

    /** Whether the attention kernel takes a GQA group of {@code group} heads of {@code headSize}. */
    public static boolean attentionCovers(int group, int headSize) {
        return group >= 1 && group <= MAX_GROUP && headSize >= 8 && headSize <= MAX_HEAD && headSize % 8 == 0;
    }

    /** Scratch floats {@link #attend} needs for a group of {@code group} over {@code rows} rows. */
    public static int attentionScratch(int group, int rows) {
        return group * rows;
    }

    /**
     * {@link #attend(Variant, MemorySegment, int, int, MemorySegment, MemorySegment, int, MemorySegment, MemorySegment,
     * long, int, MemorySegment, MemorySegment, float, float, float, boolean, MemorySegment, MemorySegment, long)} with
     * the bound variant over one run (a FULL head).
     */
    public static void attend(
            MemorySegment q,
            int group,
            int headSize,
            MemorySegment keys,
            MemorySegment values,
            int len,
            float scale,
            float softcap,
            boolean roundF16,
            MemorySegment scratch,
            MemorySegment out,
            long outOffset) {
        attend(
                ACTIVE, q, group, headSize, keys, values, len, null, null, 0, 0, null, null, 0, scale, softcap,
                roundF16, scratch, out, outOffset);
    }

    /** As below with the bound variant. */
    public static void attend(
            MemorySegment q,
            int group,
            int headSize,
            MemorySegment k0,
            MemorySegment v0,
            int n0,
            MemorySegment k1,
            MemorySegment v1,
            long from1,
            int n1,
            MemorySegment kc,
            MemorySegment vc,
            float bias,
            float scale,
            float softcap,
            boolean roundF16,
            MemorySegment scratch,
            MemorySegment out,
            long outOffset) {
        attend(
                ACTIVE, q, group, headSize, k0, v0, n0, k1, v1, from1, n1, kc, vc, bias, scale, softcap, roundF16,
                scratch, out, outOffset);
    }

    /** One run on float arrays (tests). */
    public static void attend(
            Variant v,
            float[] q,
            int group,
            int headSize,
            float[] keys,
            float[] values,
            int len,
            float scale,
            float softcap,
            boolean roundF16,
            float[] out,
            int outOffset) {
        attend(
                v,
                MemorySegment.ofArray(q),
                group,
                headSize,
                MemorySegment.ofArray(keys),
                MemorySegment.ofArray(values),
                len,
                null,
                null,
                0,
                0,
                null,
                null,
                0,
                scale,
                softcap,
                roundF16,
                MemorySegment.ofArray(new float[attentionScratch(group, len)]),
                MemorySegment.ofArray(out),
                outOffset);
    }

    /**
     * Attention of one GQA group, as llama.cpp's non-flash CPU path computes it (attention.c): for each of the
     * {@code group} queries in {@code q} (rows of {@code headSize} floats), the logits over the rows ({@code n0} of
     * {@code k0}/{@code v0}, then {@code n1} of {@code k1}/{@code v1} from row {@code from1}, then one row
     * {@code kc}/{@code vc} when not null, its logit plus {@code bias}; {@code (softcap > 0 ? softcap * tanh(dot /
     * softcap) : dot) * scale}), their softmax, rounded to F16 with {@code roundF16}, and the weighted values into the
     * floats of {@code out} from {@code outOffset + g * headSize}. {@code scratch} holds at least
     * {@link #attentionScratch} floats. The segments are the caller's to keep (decode passes the same ones every
     * token).
     */
    public static void attend(
            Variant v,
            MemorySegment q,
            int group,
            int headSize,
            MemorySegment k0,
            MemorySegment v0,
            int n0,
            MemorySegment k1,
            MemorySegment v1,
            long from1,
            int n1,
            MemorySegment kc,
            MemorySegment vc,
            float bias,
            float scale,
            float softcap,
            boolean roundF16,
            MemorySegment scratch,
            MemorySegment out,
            long outOffset) {
        if (v == null) throw new IllegalStateException("native kernels unavailable: " + UNAVAILABLE);
        if (!attentionCovers(group, headSize))
            throw new IllegalArgumentException("attention kernel: group " + group + ", head size " + headSize);
        long row = 4L * headSize, qs = (long) group * headSize;
        int rows = n0 + n1 + (kc != null ? 1 : 0);
        if (n0 < 0
                || n1 < 0
                || from1 < 0
                || rows < 1
                || q.byteSize() < 4 * qs
                || k0.byteSize() < row * n0
                || v0.byteSize() < row * n0
                || (n1 > 0 && (k1.byteSize() < row * (from1 + n1) || v1.byteSize() < row * (from1 + n1)))
                || (kc != null && (kc.byteSize() < row || vc.byteSize() < row))
                || scratch.byteSize() < 4L * attentionScratch(group, rows)
                || outOffset < 0
                || out.byteSize() < 4 * (outOffset + qs)) {
            throw new IndexOutOfBoundsException("attention over " + rows + " rows does not fit the segments given");
        }
        if (!(softcap >= 0)) throw new IllegalArgumentException("softcap must be >= 0, got " + softcap);
        // Locals, not conditionals in the call: invokeExact takes each argument's static type, and a conditional there
        // is typed Object.
        MemorySegment run1Keys = n1 > 0 ? k1 : MemorySegment.NULL, run1Values = n1 > 0 ? v1 : MemorySegment.NULL;
        MemorySegment extraKey = kc != null ? kc : MemorySegment.NULL,
                extraValue = kc != null ? vc : MemorySegment.NULL;
        int rc;
        try {
            rc = (int) v.attend.invokeExact(
                    q,
                    group,
                    headSize,
                    k0,
                    v0,
                    n0,
                    run1Keys,
                    run1Values,
                    from1,
                    n1,
                    extraKey,
                    extraValue,
                    bias,
                    scale,
                    softcap,
                    roundF16 ? 1 : 0,
                    scratch,
                    out,
                    outOffset);
        } catch (Throwable t) {
            throw new IllegalStateException("native attention call failed", t);
        }
        if (rc != 0)
            throw new IllegalStateException("native attention refused group " + group + ", head size " + headSize);
    }

    /**
     * Scratch floats {@link #attendCausal} needs for {@code tokens} tokens of a group of {@code group}, the first over
     * {@code firstRows} rows.
     */
    public static long causalScratch(int tokens, int group, int firstRows) {
        return (long) tokens * group * (firstRows + tokens - 1);
    }

    /** As below with the bound variant. */
    public static void attendCausal(
            MemorySegment q,
            int tokens,
            int group,
            int headSize,
            MemorySegment keys,
            MemorySegment values,
            int firstRows,
            float scale,
            float softcap,
            boolean roundF16,
            MemorySegment scratch,
            MemorySegment out) {
        attendCausal(
                ACTIVE, q, tokens, group, headSize, keys, values, firstRows, scale, softcap, roundF16, scratch, out);
    }

    /**
     * A FULL head's attention for {@code tokens} consecutive positions of one sequence (a prefill chunk): token t's GQA
     * group of queries (rows {@code t * group ..} of {@code q}) over the first {@code firstRows + t} rows of the keys
     * and values, into the same rows of {@code out}. Each token's result is exactly {@link #attend}'s over its rows
     * (the same arithmetic), but each key and value is read once for the chunk. {@code scratch} holds at least
     * {@link #causalScratch} floats.
     */
    public static void attendCausal(
            Variant v,
            MemorySegment q,
            int tokens,
            int group,
            int headSize,
            MemorySegment keys,
            MemorySegment values,
            int firstRows,
            float scale,
            float softcap,
            boolean roundF16,
            MemorySegment scratch,
            MemorySegment out) {
        if (v == null) throw new IllegalStateException("native kernels unavailable: " + UNAVAILABLE);
        if (!attentionCovers(group, headSize))
            throw new IllegalArgumentException("attention kernel: group " + group + ", head size " + headSize);
        long rows = firstRows + tokens - 1L, qs = (long) tokens * group * headSize * 4;
        if (tokens < 1
                || firstRows < 1
                || q.byteSize() < qs
                || out.byteSize() < qs
                || keys.byteSize() < rows * headSize * 4
                || values.byteSize() < rows * headSize * 4
                || scratch.byteSize() < 4 * causalScratch(tokens, group, firstRows)) {
            throw new IndexOutOfBoundsException(
                    "attention of " + tokens + " tokens over " + rows + " rows does not fit the segments given");
        }
        if (!(softcap >= 0)) throw new IllegalArgumentException("softcap must be >= 0, got " + softcap);
        int rc;
        try {
            rc = (int) v.attendCausal.invokeExact(
                    q,
                    tokens,
                    group,
                    headSize,
                    keys,
                    values,
                    firstRows,
                    scale,
                    softcap,
                    roundF16 ? 1 : 0,
                    scratch,
                    out);
        } catch (Throwable t) {
            throw new IllegalStateException("native attention call failed", t);
        }
        if (rc != 0)
            throw new IllegalStateException(
                    "native attention refused " + tokens + " tokens, group " + group + ", head size " + headSize);
    }
}
