package io.razorstream.engine.attention;

import io.razorstream.engine.kernel.Kernels;
import io.razorstream.engine.kernel.NativeKernels;
import io.razorstream.engine.kernel.Numerics;
import io.razorstream.engine.kernel.Ops;
import io.razorstream.engine.kernel.Parallel;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Grouped-query attention of one layer over each row's own cache, behind one call ({@link #run}): every row's key and
 * value go into its cache, then every query head attends over its cache as of its own row. FULL heads attend in the
 * native kernel when that tier is selected (attention.c) or in Java (always when an {@link AttentionObserver} watches,
 * as it needs every probability); compressed heads ({@link CompressedHead}) attend themselves, token by token. The
 * arithmetic per head is the plain definition (scores, softmax, weighted values in position order, F16 rounding as
 * llama.cpp's non-flash CPU path for an F16 cache), so the numbers do not depend on the batching.
 */
public final class Attention {
    private final int headSize, group, kvHeads;
    /** How logits are made, for an F32 and an F16 cache (the latter rounds the probabilities). */
    private final Scores scoresF32, scoresF16;

    /**
     * @param scale the scores' scale (1 when the model scales the query itself)
     * @param softcap the attention logits' softcap (0: none)
     */
    public Attention(int headCount, int kvHeads, int headSize, float scale, float softcap) {
        if (headCount % kvHeads != 0)
            throw new IllegalArgumentException(headCount + " query heads do not group over " + kvHeads + " KV heads");
        this.headSize = headSize;
        this.kvHeads = kvHeads;
        this.group = headCount / kvHeads;
        this.scoresF32 = new Scores(scale, softcap, false);
        this.scoresF16 = new Scores(scale, softcap, true);
    }

    /**
     * Layer {@code layer} for every row of the pass: keys and values stored, then the output of every query head into
     * {@link AttentionRows#output}. A sequence whose cache refuses (a fault) fails alone; the others go on.
     */
    public void run(int layer, AttentionRows rows, Parallel parallel) {
        store(layer, rows);
        // The head profiler's sequence always runs alone (its work asks for a pass of its own).
        AttentionObserver observer =
                rows.sequences.size() == 1 ? rows.sequences.get(0).cache().observer() : null;
        boolean nativeKernel = Kernels.nativeSelected() && NativeKernels.attentionCovers(group, headSize);
        if (observer == null && nativeKernel) {
            if (rows.fullPass == null) rows.fullPass = new FullPass(rows);
            rows.fullPass.layer = layer;
            parallel.forRange(rows.runs * kvHeads, rows.fullPass);
        } else {
            javaFull(layer, rows, parallel, observer);
        }
        compressed(layer, rows, parallel, nativeKernel);
    }

    /**
     * Each row's keys and values into its cache's FULL heads, in row order (compressed heads take theirs as they
     * attend).
     */
    private static void store(int layer, AttentionRows rows) {
        for (int t = 0; t < rows.rows; t++) {
            AttentionRows.Sequence s = rows.sequenceOf(t);
            if (s.failed()) continue;
            try {
                rows.rowCache[t].put(layer, rows.position[t], rows.k[t], rows.v[t]);
            } catch (RuntimeException e) {
                s.fail(e);
            }
        }
    }

    /** The scores of a cache: an F16 cache rounds the probabilities as llama.cpp does. */
    private Scores scores(KvCache cache) {
        return cache.precision() == KvPrecision.F16 ? scoresF16 : scoresF32;
    }

    /**
     * The native tier's FULL-head attention: one call per (run, KV head), a run being up to
     * {@link AttentionRows#CAUSAL_RUN} consecutive rows of one sequence (a decode step is a run of one), whose keys and
     * values the kernel reads once for the whole GQA group and all the run's rows.
     */
    final class FullPass implements Parallel.RangeBody {
        private final AttentionRows rows;
        int layer;

        FullPass(AttentionRows rows) {
            this.rows = rows;
        }

        @Override
        public void run(int from, int to) {
            int hs = headSize, gs = group * hs;
            Scratch scratch = SCRATCH.get();
            for (int task = from; task < to; task++) {
                int run = task / kvHeads, kvh = task % kvHeads, first = rows.runRow[run], tokens = rows.runCount[run];
                KvCache cache = rows.rowCache[first];
                AttentionRows.Sequence s = rows.sequenceOf(first);
                if (cache.compressed(layer, kvh) != null || s.failed()) continue;
                try {
                    Scores scores = scores(cache);
                    float[] q = scratch.runQueries(tokens * gs), out = scratch.runOutput(tokens * gs);
                    for (int t = 0; t < tokens; t++)
                        roundedCopy(rows.q[first + t], kvh * gs, q, t * gs, gs, scores.roundProbabilities());
                    int firstRows = rows.position[first] + 1;
                    NativeKernels.attendCausal(
                            scratch.runQuerySegment(),
                            tokens,
                            group,
                            hs,
                            cache.keySegment(layer, kvh),
                            cache.valueSegment(layer, kvh),
                            firstRows,
                            scores.scale(),
                            scores.softcap(),
                            scores.roundProbabilities(),
                            scratch.nativeScores(NativeKernels.causalScratch(tokens, group, firstRows)),
                            scratch.runOutputSegment());
                    for (int t = 0; t < tokens; t++) System.arraycopy(out, t * gs, rows.out[first + t], kvh * gs, gs);
                } catch (RuntimeException e) {
                    s.fail(e);
                }
            }
        }
    }

    /** The Java tier's FULL-head attention (and the profiler's): one task per (row, KV head). */
    private void javaFull(int layer, AttentionRows rows, Parallel parallel, AttentionObserver observer) {
        parallel.forRange(rows.rows * kvHeads, (from, to) -> {
            Scratch scratch = SCRATCH.get();
            float[][] q = scratch.queries(group, headSize);
            for (int task = from; task < to; task++) {
                int t = task / kvHeads, kvh = task % kvHeads;
                KvCache cache = rows.rowCache[t];
                AttentionRows.Sequence s = rows.sequenceOf(t);
                if (cache.compressed(layer, kvh) != null || s.failed()) continue;
                try {
                    attendJava(layer, t, kvh, cache, rows, scratch, q, observer);
                } catch (RuntimeException e) {
                    s.fail(e);
                }
            }
        });
    }

    /** One (row, KV head) task of {@link #javaFull}: the group's query heads over the FULL head's cache. */
    private void attendJava(
            int layer,
            int t,
            int kvh,
            KvCache cache,
            AttentionRows rows,
            Scratch scratch,
            float[][] q,
            AttentionObserver observer) {
        int hs = headSize;
        boolean f16 = cache.precision() == KvPrecision.F16;
        Scores scores = scores(cache);
        int len = rows.position[t] + 1;
        float[][] att =
                scratch.scores(group, len); // scores of the group's heads for one token, reused across the range
        float[] keys = cache.keys(layer, kvh), values = cache.values(layer, kvh);
        for (int g = 0; g < group; g++) {
            System.arraycopy(rows.q[t], (kvh * group + g) * hs, q[g], 0, hs);
            if (f16) for (int i = 0; i < hs; i++) q[g][i] = Numerics.roundToF16(q[g][i]);
        }
        for (int p = 0; p < len; p++) {
            for (int g = 0; g < group; g++) att[g][p] = scores.logit(Ops.dot(q[g], 0, keys, p * hs, hs));
        }
        float[] out = rows.out[t];
        for (int g = 0; g < group; g++) {
            Ops.softmax(att[g], len);
            if (observer != null) observer.observe(layer, kvh * group + g, rows.position[t], att[g], len, values);
            if (f16) for (int p = 0; p < len; p++) att[g][p] = Numerics.roundToF16(att[g][p]);
            Arrays.fill(out, (kvh * group + g) * hs, (kvh * group + g + 1) * hs, 0f);
        }
        for (int p = 0; p < len; p++) {
            for (int g = 0; g < group; g++) Ops.axpy(out, (kvh * group + g) * hs, att[g][p], values, p * hs, hs);
        }
    }

    /**
     * Compressed heads, token by token: each token is appended before its queries attend and the head evicts after
     * them, so every token sees the head as of itself, in a prefill batch as in decode. Heads (of one sequence or of
     * different ones) are independent and run in parallel.
     */
    private void compressed(int layer, AttentionRows rows, Parallel parallel, boolean nativeKernel) {
        int tasks = 0;
        for (int s = 0; s < rows.sequences.size(); s++) {
            for (int kvh : rows.sequences.get(s).cache().compressedKvHeads(layer)) {
                rows.taskSequence[tasks] = s;
                rows.taskHead[tasks++] = kvh;
            }
        }
        if (tasks == 0) return;
        if (rows.compressedPass == null) rows.compressedPass = new CompressedPass(rows);
        rows.compressedPass.layer = layer;
        rows.compressedPass.nativeKernel = nativeKernel;
        parallel.forRange(tasks, rows.compressedPass);
    }

    /** {@link #compressed}'s range body over the layer's (sequence, compressed KV head) tasks. */
    final class CompressedPass implements Parallel.RangeBody {
        private final AttentionRows rows;
        int layer;
        boolean nativeKernel;

        CompressedPass(AttentionRows rows) {
            this.rows = rows;
        }

        @Override
        public void run(int from, int to) {
            Scratch scratch = SCRATCH.get();
            for (int i = from; i < to; i++) {
                int si = rows.taskSequence[i];
                AttentionRows.Sequence s = rows.sequences.get(si);
                if (s.failed()) continue;
                try {
                    attend(s.cache(), rows.firstRow(si), s.rowCount(), rows.taskHead[i], scratch);
                } catch (RuntimeException e) {
                    s.fail(e);
                }
            }
        }

        /** One (sequence, compressed KV head) task: its rows appended and attended in order. */
        private void attend(KvCache cache, int firstRow, int count, int kvh, Scratch scratch) {
            int hs = headSize;
            float[] k = scratch.vector(0, hs), v = scratch.vector(1, hs), q = scratch.vector(2, hs);
            KvPrecision precision = cache.precision();
            boolean f16 = precision == KvPrecision.F16;
            Scores scores = scores(cache);
            CompressedHead head = cache.compressed(layer, kvh);
            float[] groupQ = nativeKernel && head.attendsGroupNatively() ? scratch.groupQueries(group * hs) : null;
            for (int t = firstRow; t < firstRow + count; t++) {
                precision.round(rows.k[t], kvh * hs, k, 0, hs);
                precision.round(rows.v[t], kvh * hs, v, 0, hs);
                head.append(k, 0, v, 0);
                if (groupQ != null) {
                    roundedCopy(rows.q[t], kvh * group * hs, groupQ, 0, groupQ.length, f16);
                    head.attendGroupNative(
                            scratch.groupQuerySegment(), group, scores, scratch, rows.outSegments[t], kvh * group * hs);
                } else {
                    for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                        roundedCopy(rows.q[t], h * hs, q, 0, hs, f16);
                        head.attend(q, 0, scores, rows.out[t], h * hs);
                    }
                }
                head.endToken();
            }
        }
    }

    /** out[to, to + n) = src[from, from + n), rounded to F16 when the cache is F16 (as the FULL path rounds). */
    private static void roundedCopy(float[] src, int from, float[] out, int to, int n, boolean f16) {
        for (int i = 0; i < n; i++) out[to + i] = f16 ? Numerics.roundToF16(src[from + i]) : src[from + i];
    }

    /** Per worker thread: query copies, score rows and head vectors, grown as the context grows, never shrunk. */
    static final class Scratch implements CompressedHead.NativeScratch {
        private float[][] queries = new float[0][0], scores = new float[0][0];
        private float[] groupQueries = new float[0];
        private MemorySegment groupQuerySegment = MemorySegment.ofArray(groupQueries);
        private float[] nativeScores = new float[0];
        private MemorySegment nativeScoresSegment = MemorySegment.ofArray(nativeScores);
        private float[] runQueries = new float[0], runOutput = new float[0];
        private MemorySegment runQuerySegment = MemorySegment.ofArray(runQueries),
                runOutputSegment = MemorySegment.ofArray(runOutput);
        private final float[][] vectors = new float[3][];

        /** The queries of one GQA group, side by side: exactly {@code n} floats. */
        float[] groupQueries(int n) {
            if (groupQueries.length != n) groupQuerySegment = MemorySegment.ofArray(groupQueries = new float[n]);
            return groupQueries;
        }

        MemorySegment groupQuerySegment() {
            return groupQuerySegment;
        }

        @Override
        public MemorySegment floats(long n) {
            return nativeScores(n);
        }

        /** The native attention's scratch: at least {@code n} floats (grown by doubling as the context grows). */
        MemorySegment nativeScores(long n) {
            if (n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("attention scratch of " + n + " floats");
            if (nativeScores.length < n) {
                int size = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(n, 2L * nativeScores.length));
                nativeScoresSegment = MemorySegment.ofArray(nativeScores = new float[size]);
            }
            return nativeScoresSegment;
        }

        /** The FULL-head attention's query rows of one run: at least {@code n} floats. */
        float[] runQueries(int n) {
            if (runQueries.length < n) runQuerySegment = MemorySegment.ofArray(runQueries = new float[n]);
            return runQueries;
        }

        MemorySegment runQuerySegment() {
            return runQuerySegment;
        }

        /** Its output rows: at least {@code n} floats. */
        float[] runOutput(int n) {
            if (runOutput.length < n) runOutputSegment = MemorySegment.ofArray(runOutput = new float[n]);
            return runOutput;
        }

        MemorySegment runOutputSegment() {
            return runOutputSegment;
        }

        /** Scratch vector {@code i} of exactly {@code hs} floats (the compressed heads copy whole arrays). */
        float[] vector(int i, int hs) {
            if (vectors[i] == null || vectors[i].length != hs) vectors[i] = new float[hs];
            return vectors[i];
        }

        float[][] queries(int group, int hs) {
            if (queries.length < group || queries[0].length < hs) queries = new float[group][hs];
            return queries;
        }

        float[][] scores(int group, int length) {
            if (scores.length < group || scores[0].length < length) {
                scores = new float[group][Math.max(length, 2 * (scores.length == 0 ? 0 : scores[0].length))];
            }
            return scores;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);
}
