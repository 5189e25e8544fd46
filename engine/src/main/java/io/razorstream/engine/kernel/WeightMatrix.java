package io.razorstream.engine.kernel;

import java.lang.foreign.MemorySegment;

/**
 * A weight matrix of {@code rows} x {@code cols} stored row-major in one of the supported ggml types (GGUF shape [cols,
 * rows]). Each subclass owns its type's vectorised kernels; {@link #dotReference} is the plain scalar definition they
 * are tested against.
 */
public abstract sealed class WeightMatrix permits F32Matrix, HalfMatrix, Q8_0Matrix, Q4_0Matrix, KQuantMatrix {
    protected final GgmlType type;
    protected final MemorySegment data;
    protected final int rows;
    protected final int cols;
    protected final long rowBytes;
    /** This matrix as the native tier reads it, built on first use ({@link NativeKernels#layout}). */
    private volatile NativeKernels.Layout nativeLayout;

    protected WeightMatrix(GgmlType type, MemorySegment data, int rows, int cols) {
        if (cols % type.blockSize() != 0)
            throw new IllegalArgumentException("cols " + cols + " is not a multiple of " + type.blockSize());
        this.type = type;
        this.data = data;
        this.rows = rows;
        this.cols = cols;
        this.rowBytes = type.bytesFor(cols);
        if (data.byteSize() < rowBytes * rows) {
            throw new IllegalArgumentException(type + " matrix " + rows + "x" + cols + " needs " + rowBytes * rows
                    + " bytes, got " + data.byteSize());
        }
    }

    public static WeightMatrix of(GgmlType type, MemorySegment data, int rows, int cols) {
        return switch (type) {
            case F32 -> new F32Matrix(data, rows, cols);
            case F16, BF16 -> new HalfMatrix(type, data, rows, cols);
            case Q8_0 -> new Q8_0Matrix(data, rows, cols);
            case Q4_0 -> new Q4_0Matrix(data, rows, cols);
            case Q4_K, Q5_K, Q6_K -> new KQuantMatrix(type, data, rows, cols);
            default -> throw new UnsupportedOperationException("tensor type " + type + " is not supported yet");
        };
    }

    /** Rows [first, first + count) as a matrix of their own over the same bytes (a fused projection's parts). */
    public WeightMatrix rows(int first, int count) {
        if (first < 0 || count < 1 || first + count > rows)
            throw new IndexOutOfBoundsException("rows " + first + "+" + count + " of " + rows);
        return of(type, data.asSlice(first * rowBytes, count * rowBytes), count, cols);
    }

    /** The native tier's form of this matrix: its own bytes, or a repacked copy made once on the first call. */
    final NativeKernels.Layout nativeLayout() {
        NativeKernels.Layout l = nativeLayout;
        if (l == null) {
            synchronized (this) {
                l = nativeLayout;
                if (l == null) nativeLayout = l = NativeKernels.layout(this);
            }
        }
        return l;
    }

    /**
     * Builds now what the selected kernel tier would otherwise build on the first product (the native tier's repacked
     * copy, about a second per GB), so that a model's first turn does not wait for it.
     */
    public final void prepareForKernels() {
        if (Kernels.nativeFor(type)) nativeLayout();
    }

    public GgmlType type() {
        return type;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public long byteSize() {
        return rowBytes * rows;
    }

    /**
     * Rounds/quantises {@code x} (length {@code cols}) to what this type's dot product consumes, for the selected
     * kernel tier ({@link Kernels}).
     */
    public final Activation prepare(float[] x) {
        return prepare(x, null);
    }

    /**
     * As {@link #prepare(float[])}, overwriting {@code reuse} (an earlier input of this type and length on the same
     * tier, or null) where the tier can: the native tier then allocates nothing.
     */
    public final Activation prepare(float[] x, Activation reuse) {
        return Kernels.nativeFor(type) ? NativeKernels.prepare(type, x, cols, reuse) : prepareJava(x);
    }

    /** The Java tier's form of {@link #prepare}. */
    protected abstract Activation prepareJava(float[] x);

    /** Dot product of row {@code row} with a prepared activation, on the tier it was prepared for. */
    public final float dot(int row, Activation a) {
        if (!a.isNative()) return dotJava(row, a);
        float[] out = new float[1];
        NativeKernels.gemm(this, row, row + 1, a.segment(), 1, MemorySegment.ofArray(out), 0, 0);
        return out[0];
    }

    /** The Java tier's vectorised dot product. */
    protected abstract float dotJava(int row, Activation a);

    /**
     * Dot products of one row with several activations at once ({@code out[t] = dot(row, a[t])} for t in [0, n)). Types
     * that can reuse a decoded weight chunk across tokens override this; results must equal {@link #dot} exactly, so
     * that a prompt gives the same numbers whether prefilled or decoded.
     */
    protected void dotMany(int row, Activation[] a, int n, float[] out) {
        for (int t = 0; t < n; t++) out[t] = dot(row, a[t]);
    }

    /** Scalar reference: dequantise the row, multiply with the activation's effective values in order. */
    public final float dotReference(int row, Activation a) {
        float[] w = new float[cols];
        dequantizeRow(row, w, 0);
        float sum = 0;
        for (int i = 0; i < cols; i++) sum += w[i] * a.effective(i);
        return sum;
    }

    /**
     * Row {@code row} as floats in the order this type's kernel consumes the input (see
     * {@link Activation#gemmInput()}); the natural order unless a subclass interleaves.
     */
    protected void gemmRow(int row, float[] out) {
        dequantizeRow(row, out, 0);
    }

    /**
     * Writes row {@code row} as floats into {@code out[offset..offset+cols)}; subclasses vectorise it for the GEMM
     * path.
     */
    public void dequantizeRow(int row, float[] out, int offset) {
        Quantizer.dequantize(type, data, row * rowBytes, out, offset, cols);
    }

    /**
     * Row {@code row} as floats into {@code out[0, cols)} by the scalar definition (the same floats as
     * {@link #dequantizeRow}): the embedding lookup, once a token, where a vector form would run interpreted, and
     * allocate, until the JIT got to it.
     */
    public final void embeddingRow(int row, float[] out) {
        if (row < 0 || row >= rows) throw new IndexOutOfBoundsException("row " + row + " of " + rows);
        Quantizer.dequantize(type, data, row * rowBytes, out, 0, cols);
    }

    /** out[r] = row r . x for every row, rows split across the pool's threads. */
    public void matvec(Activation a, float[] out, Parallel parallel) {
        new Multiplication(new Product(this, new Activation[] {a}, 1, new float[][] {out})).run(parallel);
    }

    /** out[t][r] = row r . a[t] for n activations (prefill): each row is read once for all of them. */
    public void matmul(Activation[] a, int n, float[][] out, Parallel parallel) {
        new Multiplication(new Product(this, a, n, out)).run(parallel);
    }

    /**
     * One matrix times n prepared inputs, into out[t][row]. The arrays are read when the product runs, so a product
     * built once can run again after its inputs were prepared anew in place.
     */
    public record Product(WeightMatrix matrix, Activation[] inputs, int n, float[][] out) {}

    /**
     * Several products computed in one parallel pass over their concatenated rows (q, k and v; gate and up), so that
     * the threads meet once per group instead of once per matrix. Built once and run many times (decode keeps one per
     * layer and group), it allocates nothing per run on the native tier; one instance is not for concurrent runs.
     */
    public static final class Multiplication implements Parallel.RangeBody {
        private final Product[] products;
        private final int[] starts;
        /** Per product: the native tier's input batch (n > 1), or its one input's and output's segments (n == 1). */
        private final MemorySegment[] batches, outSegments;

        private final float[][] segmentArrays;

        public Multiplication(Product... products) {
            this.products = products.clone();
            this.starts = new int[products.length + 1];
            for (int i = 0; i < products.length; i++) starts[i + 1] = starts[i] + products[i].matrix.rows;
            this.batches = new MemorySegment[products.length];
            this.outSegments = new MemorySegment[products.length];
            this.segmentArrays = new float[products.length][];
        }

        public void run(Parallel parallel) {
            // Once, before the threads share them: the Java GEMM's float inputs, the native tier's input batches.
            for (int i = 0; i < products.length; i++) {
                Product p = products[i];
                if (p.n > 1 && p.inputs[0].isNative())
                    batches[i] = NativeKernels.batch(p.matrix.type, p.inputs, p.n, p.matrix.cols);
                else if (p.n > 1 && Gemm.applies(p.n)) for (int t = 0; t < p.n; t++) p.inputs[t].gemmInput();
                else if (p.n == 1 && segmentArrays[i] != p.out[0]) {
                    segmentArrays[i] = p.out[0];
                    outSegments[i] = MemorySegment.ofArray(p.out[0]);
                }
            }
            parallel.forRange(starts[products.length], 16, this);
        }

        /** Rows [from, to) of the concatenated products, on the calling thread. */
        @Override
        public void run(int from, int to) {
            for (int i = 0; i < products.length; i++) {
                int lo = Math.max(from, starts[i]), hi = Math.min(to, starts[i + 1]);
                if (lo >= hi) continue;
                products[i].matrix.multiplyRows(
                        lo - starts[i], hi - starts[i], products[i], batches[i], outSegments[i]);
            }
        }
    }

    /** Per-thread output tile of the native GEMM, copied into the product's per-token rows. */
    private static final ThreadLocal<float[]> NATIVE_OUT = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * Rows [from, to) of one product on the native tier: with n == 1 straight into {@code out} (the segment of out[0]),
     * else from {@code batch} (the inputs side by side) through a per-thread tile.
     */
    private void multiplyRowsNative(int from, int to, Product p, MemorySegment batch, MemorySegment out) {
        if (p.n == 1) {
            NativeKernels.gemm(this, from, to, p.inputs[0].segment(), 1, out, from, 0);
            return;
        }
        int width = to - from;
        float[] tile = NATIVE_OUT.get();
        if (tile.length < width * p.n) NATIVE_OUT.set(tile = new float[width * p.n]);
        NativeKernels.gemm(this, from, to, batch, p.n, MemorySegment.ofArray(tile), 0, width);
        for (int t = 0; t < p.n; t++) System.arraycopy(tile, t * width, p.out[t], from, width);
    }

    /**
     * Rows [from, to) of one product, on the calling thread ({@code batch} and {@code out}: see
     * {@link Multiplication}).
     */
    protected void multiplyRows(int from, int to, Product p, MemorySegment batch, MemorySegment outSegment) {
        if (p.inputs[0].isNative()) {
            multiplyRowsNative(from, to, p, batch, outSegment);
            return;
        }
        if (p.n == 1) {
            float[] out = p.out[0];
            Activation a = p.inputs[0];
            for (int r = from; r < to; r++) out[r] = dot(r, a);
            return;
        }
        if (Gemm.applies(p.n)) {
            float[][] x = new float[p.n][];
            for (int t = 0; t < p.n; t++) x[t] = p.inputs[t].gemmInput();
            Gemm.multiply(this, from, to, x, p.n, p.out);
            return;
        }
        float[] tmp = new float[p.n];
        for (int r = from; r < to; r++) {
            dotMany(r, p.inputs, p.n, tmp);
            for (int t = 0; t < p.n; t++) p.out[t][r] = tmp[t];
        }
    }
}
