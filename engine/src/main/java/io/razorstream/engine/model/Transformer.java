package io.razorstream.engine.model;

import io.razorstream.engine.attention.AttentionObserver;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowHead;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.CompressedHead;
import io.razorstream.engine.attention.Scores;
import io.razorstream.engine.model.arch.Architecture;
import io.razorstream.engine.kernel.Activation;
import io.razorstream.engine.kernel.Kernels;
import io.razorstream.engine.kernel.NativeKernels;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Numerics;
import io.razorstream.engine.kernel.Ops;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.kernel.WeightMatrix;
import io.razorstream.engine.kernel.WeightMatrix.Multiplication;

import java.lang.foreign.MemorySegment;


/**
 * The transformer of the llama-like families, driven by the model's {@link Architecture} (llama; qwen2: Q/K/V biases, NeoX
 * rotation): RMSNorm, RoPE, grouped-query attention, SwiGLU
 * feed-forward, output norm and head. Stateless apart from the weights: the sequence state lives in a
 * {@link KvCache}. {@link #forward} runs a batch of tokens in one pass (prefill) or a single token
 * (decode) through the same code, so both give the same numbers.
 */
public final class Transformer {
    private final ModelConfig config;
    private final ModelWeights weights;
    /** base^(-2/ropeDimensions): the angle of pair i+1 is the angle of pair i times this; for the global and the local layers. */
    private final float thetaScale, localThetaScale;
    /** How attention logits are made, for an F32 and an F16 cache (the latter rounds the probabilities). */
    private final Scores scoresF32, scoresF16;
    /** The query's own scale when the architecture scales it before the scores (then the scores' scale is 1). */
    private final float queryScale;
    /** Per layer, the weight matrices of each group that shares one input (QKV, WO, GATE_UP, DOWN). */
    private final WeightMatrix[][][] groups;
    private final WeightMatrix[] outputGroup;

    /** The matrix groups of a layer, in {@link #groups} and as the slots of the prepared inputs (OUTPUT: the head). */
    private static final int QKV = 0, WO = 1, GATE_UP = 2, DOWN = 3, OUTPUT = 4;

    public Transformer(ModelConfig config, ModelWeights weights) {
        this.config = config;
        this.weights = weights;
        this.thetaScale = (float) Math.pow(config.ropeFreqBase(), -2.0 / config.ropeDimensions());
        float localBase = config.slidingWindow().ropeBase();
        this.localThetaScale = localBase > 0 && localBase != config.ropeFreqBase() ? (float) Math.pow(localBase, -2.0 / config.ropeDimensions()) : 0f;
        boolean prescale = config.arch().has(Architecture.Feature.QUERY_PRESCALE);
        this.queryScale = prescale ? config.attentionScale() : 1f;
        float scoreScale = prescale ? 1f : config.attentionScale();
        this.scoresF32 = new Scores(scoreScale, config.attentionSoftcap(), false);
        this.scoresF16 = new Scores(scoreScale, config.attentionSoftcap(), true);
        this.groups = new WeightMatrix[config.blockCount()][][];
        for (int l = 0; l < groups.length; l++) {
            ModelWeights.Layer layer = weights.layers()[l];
            groups[l] = new WeightMatrix[][] {{layer.wq(), layer.wk(), layer.wv()}, {layer.wo()}, {layer.gate(), layer.up()}, {layer.down()}};
        }
        this.outputGroup = new WeightMatrix[] {weights.output()};
    }

    public static Transformer load(GgufFile gguf) {
        ModelConfig config = ModelConfig.from(gguf);
        return new Transformer(config, ModelWeights.load(gguf, config));
    }

    public ModelConfig config() {
        return config;
    }

    public ModelWeights weights() {
        return weights;
    }

    public KvCache newCache(int maxTokens, KvPrecision precision) {
        return new KvCache(config.cacheShape(), Math.min(maxTokens, config.contextLength()), precision);
    }

    /** A cache whose heads follow {@code policy} (RazorAttention: retrieval heads full, the others windowed). */
    public KvCache newCache(int maxTokens, KvPrecision precision, KvPolicy policy) {
        return new KvCache(config.cacheShape(), Math.min(maxTokens, config.contextLength()), precision, policy);
    }

    /**
     * Runs {@code count} tokens starting at {@code tokens[from]} at the cache's next positions, appends
     * their keys and values to the cache and returns the logits after the last of them.
     */
    public float[] forward(KvCache cache, int[] tokens, int from, int count, Parallel parallel) {
        float[][] logits = forward(cache, tokens, from, count, false, parallel);
        return logits[0];
    }

    /** As {@link #forward(KvCache, int[], int, int, Parallel)}; with {@code allLogits}, one row per token. */
    public float[][] forward(KvCache cache, int[] tokens, int from, int count, boolean allLogits, Parallel parallel) {
        if (count <= 0) throw new IllegalArgumentException("nothing to run");
        int outCount = allLogits ? count : 1;
        float[][] logits = new float[outCount][];
        for (int t = 0; t < outCount; t++) logits[t] = new float[config.vocabularySize()];
        run(new PassScheduler.Work().set(cache, tokens, from, count, logits, parallel));
        return logits;
    }

    /**
     * One decode step: appends {@code token} to the cache and writes the logits after it into {@code logits}
     * (one per vocabulary entry). Uses this thread's one-token work item, so a decode loop that passes the
     * same array allocates nothing per token on the native kernel tier (the Java tier's activations are
     * still allocated per matrix).
     */
    public void decode(KvCache cache, int token, float[] logits, Parallel parallel) {
        if (logits.length != config.vocabularySize()) {
            throw new IllegalArgumentException("logits has " + logits.length + " entries, the vocabulary " + config.vocabularySize());
        }
        DecodeStep step = decodeStep.get();
        step.token[0] = token;
        step.logits[0] = logits;
        try {
            run(step.work.set(cache, step.token, 0, 1, step.logits, parallel));
        } finally {
            step.logits[0] = null; // the caller's array is not kept
            step.work.set(null, null, 0, 0, null, null);
        }
    }

    /**
     * Checks the work and makes room in its cache (on the caller's thread: a refusal fails only this caller), then
     * runs it in the next forward pass, together with whatever other sequences are waiting (see {@link PassScheduler}).
     */
    private void run(PassScheduler.Work w) {
        for (int t = 0; t < w.count; t++) {
            int tok = w.tokens[w.from + t];
            if (tok < 0 || tok >= config.vocabularySize()) {
                throw new IllegalArgumentException("token id " + tok + " is outside the vocabulary (0.." + (config.vocabularySize() - 1) + ")");
            }
        }
        w.cache.reserve(w.count);
        scheduler.submit(w);
    }

    private final PassScheduler scheduler = new PassScheduler(this::pass);

    /** The forward passes this model has run and the rows (tokens) they took, over all sequences. */
    public PassCounts passCounts() {
        return scheduler.counts();
    }

    /** decode's token, logits row and work item, kept per calling thread. */
    private static final class DecodeStep {
        final int[] token = new int[1];
        final float[][] logits = new float[1][];
        final PassScheduler.Work work = new PassScheduler.Work();
    }

    private final ThreadLocal<DecodeStep> decodeStep = ThreadLocal.withInitial(DecodeStep::new);

    /**
     * One forward pass over the rows of every part (each part: consecutive tokens of one sequence), weight
     * matrices applied once to all rows, RoPE, cache writes and attention per row with its own cache and position.
     * A row's numbers do not depend on the other rows on the native tier (its GEMM computes every (row, token) pair
     * the same way); on the Java tier, a batch of several rows takes the float GEMM, a single row the quantised dot.
     */
    void pass(java.util.List<PassScheduler.Work> parts, Parallel parallel) {
        int d = config.embeddingLength();
        int count = 0, outCount = 0;
        for (int pi = 0; pi < parts.size(); pi++) {
            PassScheduler.Work p = parts.get(pi);
            p.row = count;
            p.start = p.cache.position();
            count += p.count;
            outCount += p.logits.length;
        }
        Batch b = batch(count);
        b.parts = parts;
        b.runs = 0;
        for (PassScheduler.Work p : parts) {
            for (int r = 0; r < p.count; r += CAUSAL_RUN) {
                b.runRow[b.runs] = p.row + r;
                b.runCount[b.runs++] = Math.min(CAUSAL_RUN, p.count - r);
            }
        }
        float[][] x = b.x;
        for (int pi = 0; pi < parts.size(); pi++) {
            PassScheduler.Work p = parts.get(pi);
            for (int t = 0; t < p.count; t++) {
                int row = p.row + t;
                b.rowPart[row] = pi;
                b.rowCache[row] = p.cache;
                b.position[row] = p.start + t;
                weights.tokenEmbedding().embeddingRow(p.tokens[p.from + t], x[row]);
            }
        }
        if (config.arch().has(Architecture.Feature.EMBEDDING_SCALE)) {
            float scale = (float) Math.sqrt(d);
            for (int t = 0; t < count; t++) Ops.scale(x[t], d, scale);
        }
        ropeTable(b.cos, b.sin, thetaScale, b.position, count);
        if (localThetaScale != 0) ropeTable(b.localCos, b.localSin, localThetaScale, b.position, count);

        boolean gelu = config.arch().has(Architecture.Feature.GELU_FFN);
        for (int l = 0; l < config.blockCount(); l++) {
            ModelWeights.Layer layer = weights.layers()[l];
            boolean localRope = localThetaScale != 0 && config.isLocal(l);
            float[][] cos = localRope ? b.localCos : b.cos, sin = localRope ? b.localSin : b.sin;
            for (int t = 0; t < count; t++) Ops.rmsNorm(b.normed[t], x[t], layer.attnNorm(), config.rmsNormEps());
            b.prepare(QKV, groups[l][QKV], b.normed, count);
            b.plan(l, QKV).run(parallel);
            for (int t = 0; t < count; t++) {
                if (layer.bq() != null) Ops.add(b.q[t], layer.bq(), config.queryDim());
                if (layer.bk() != null) Ops.add(b.k[t], layer.bk(), config.kvDim());
                if (layer.bv() != null) Ops.add(b.v[t], layer.bv(), config.kvDim());
                if (layer.qNorm() != null) {
                    headNorm(b.q[t], config.headCount(), layer.qNorm());
                    headNorm(b.k[t], config.kvHeadCount(), layer.kNorm());
                }
                rope(b.q[t], config.headCount(), cos[t], sin[t]);
                rope(b.k[t], config.kvHeadCount(), cos[t], sin[t]);
                if (queryScale != 1f) Ops.scale(b.q[t], config.queryDim(), queryScale);
                PassScheduler.Work part = b.parts.get(b.rowPart[t]);
                if (part.failed()) continue;
                try {
                    b.rowCache[t].put(l, b.position[t], b.k[t], b.v[t]);
                } catch (RuntimeException e) {
                    part.fail(e);
                }
            }
            attention(l, count, b, parallel);
            b.prepare(WO, groups[l][WO], b.attnOut, count);
            b.plan(l, WO).run(parallel);
            if (layer.postAttentionNorm() != null) {
                for (int t = 0; t < count; t++) Ops.rmsNorm(b.projected[t], b.projected[t], layer.postAttentionNorm(), config.rmsNormEps());
            }
            for (int t = 0; t < count; t++) Ops.add(x[t], b.projected[t], d);

            for (int t = 0; t < count; t++) Ops.rmsNorm(b.normed[t], x[t], layer.ffnNorm(), config.rmsNormEps());
            b.prepare(GATE_UP, groups[l][GATE_UP], b.normed, count);
            b.plan(l, GATE_UP).run(parallel);
            for (int t = 0; t < count; t++) {
                if (gelu) Ops.geglu(b.gate[t], b.up[t], config.feedForwardLength());
                else Ops.swiglu(b.gate[t], b.up[t], config.feedForwardLength());
            }
            b.prepare(DOWN, groups[l][DOWN], b.gate, count);
            b.plan(l, DOWN).run(parallel);
            if (layer.postFfnNorm() != null) {
                for (int t = 0; t < count; t++) Ops.rmsNorm(b.projected[t], b.projected[t], layer.postFfnNorm(), config.rmsNormEps());
            }
            for (int t = 0; t < count; t++) Ops.add(x[t], b.projected[t], d);
        }
        for (int pi = 0; pi < parts.size(); pi++) if (!parts.get(pi).failed()) parts.get(pi).cache.advance(parts.get(pi).count);

        // The head over each part's last logits.length rows; finalNormed reuses normed (free again: outCount <= count).
        float[][] finalNormed = b.normed, outRows = b.outputRows(outCount);
        int o = 0;
        for (int pi = 0; pi < parts.size(); pi++) {
            PassScheduler.Work p = parts.get(pi);
            for (int i = 0; i < p.logits.length; i++, o++) {
                Ops.rmsNorm(finalNormed[o], x[p.row + p.count - p.logits.length + i], weights.outputNorm(), config.rmsNormEps());
                outRows[o] = p.logits[i];
            }
        }
        b.prepare(OUTPUT, outputGroup, finalNormed, outCount);
        b.outputPlan(outCount).run(parallel);
        if (config.finalSoftcap() > 0) for (int i = 0; i < outCount; i++) Ops.softcap(outRows[i], outRows[i].length, config.finalSoftcap());
        for (int i = 0; i < outCount; i++) outRows[i] = null; // the callers' arrays are not kept
        for (int t = 0; t < count; t++) b.rowCache[t] = null;
        b.parts = null;
    }

    /**
     * The batch buffers for {@code rows} rows: the few row counts in use (1 for a lone decoder, N for N decoding
     * sessions, a prefill chunk plus decode steps) keep theirs, least recently used dropped. Only the pass's runner
     * touches them (passes never overlap).
     */
    private Batch batch(int rows) {
        Batch b = batches.get(rows);
        if (b == null) batches.put(rows, b = new Batch(rows));
        return b;
    }

    private final java.util.Map<Integer, Batch> batches = new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<Integer, Batch> eldest) {
            return size() > 8;
        }
    };

    /**
     * Per-token scratch buffers of one forward pass (every entry is overwritten before it is read), with the
     * prepared inputs and the matrix products over them, built once per batch: decode's batch lives as long as
     * its thread, so a decoded token allocates nothing on the native tier.
     */
    private final class Batch {
        final int n;
        final float[][] x, normed, q, k, v, attnOut, projected, gate, up;
        /** This pass's RoPE table: per token, cos and sin of each rotated pair's angle. */
        final float[][] cos, sin;
        /** The local layers' table when their rope base differs (gemma3), else null. */
        final float[][] localCos, localSin;
        /** {@link #attnOut}'s rows as segments for the native attention */
        final MemorySegment[] attnOutSegments;
        /** Per row: its sequence's cache and its position there. */
        final KvCache[] rowCache;
        final int[] position;
        /** Per row: the index of its part (sequence) in {@link #parts}. */
        final int[] rowPart;
        /** The pass's parts (sequences), while it runs. */
        java.util.List<PassScheduler.Work> parts;
        /** The pass's runs for the FULL-head attention: first row and row count, at most {@link #CAUSAL_RUN} rows of one part. */
        final int[] runRow, runCount;
        int runs;
        /** The compressed-head tasks of one layer: (part, KV head) pairs. */
        final int[] taskPart, taskHead;
        /** Prepared inputs per group slot and weight type, overwritten in place by each pass. */
        final Activation[][][] inputs = new Activation[OUTPUT + 1][GgmlType.values().length][];
        /** Per layer and group, the products over {@link #inputs} into this batch's rows. */
        final Multiplication[][] plans;
        /** Per output count: the head's input rows are the pass's logits arrays, set before it runs (see {@link #outputRows}). */
        private final Multiplication[] outputPlans;
        private final float[][][] outputRows;
        final FullAttention fullAttention = new FullAttention(this);
        final CompressedAttention compressedAttention = new CompressedAttention(this);

        Batch(int n) {
            this.n = n;
            int d = config.embeddingLength();
            x = new float[n][d];
            normed = new float[n][d];
            q = new float[n][config.queryDim()];
            k = new float[n][config.kvDim()];
            v = new float[n][config.kvDim()];
            attnOut = new float[n][config.queryDim()];
            projected = new float[n][d];
            gate = new float[n][config.feedForwardLength()];
            up = new float[n][config.feedForwardLength()];
            cos = new float[n][config.ropeDimensions() / 2];
            sin = new float[n][config.ropeDimensions() / 2];
            localCos = localThetaScale != 0 ? new float[n][config.ropeDimensions() / 2] : null;
            localSin = localThetaScale != 0 ? new float[n][config.ropeDimensions() / 2] : null;
            rowCache = new KvCache[n];
            rowPart = new int[n];
            position = new int[n];
            runRow = new int[n];
            runCount = new int[n];
            taskPart = new int[n * config.kvHeadCount()];
            taskHead = new int[n * config.kvHeadCount()];
            outputPlans = new Multiplication[n + 1];
            outputRows = new float[n + 1][][];
            attnOutSegments = new MemorySegment[n];
            for (int t = 0; t < n; t++) attnOutSegments[t] = MemorySegment.ofArray(attnOut[t]);
            for (Activation[][] slot : inputs) for (int type = 0; type < slot.length; type++) slot[type] = new Activation[n];
            plans = new Multiplication[config.blockCount()][OUTPUT];
        }

        /** Prepares xs[0, count) once per weight type among {@code matrices} (q, k and v usually share one) into the slot's inputs. */
        void prepare(int slot, WeightMatrix[] matrices, float[][] xs, int count) {
            Activation[][] byType = inputs[slot];
            for (int i = 0; i < matrices.length; i++) {
                WeightMatrix m = matrices[i];
                boolean seen = false;
                for (int j = 0; j < i; j++) seen |= matrices[j].type() == m.type();
                if (seen) continue;
                Activation[] a = byType[m.type().ordinal()];
                for (int t = 0; t < count; t++) a[t] = m.prepare(xs[t], a[t]);
            }
        }

        /** The products of layer {@code l}'s group {@code slot}, into q/k/v, projected, gate/up or projected. */
        Multiplication plan(int l, int slot) {
            Multiplication m = plans[l][slot];
            if (m == null) {
                float[][][] outs = switch (slot) {
                    case QKV -> new float[][][] {q, k, v};
                    case GATE_UP -> new float[][][] {gate, up};
                    default -> new float[][][] {projected};
                };
                plans[l][slot] = m = multiplication(groups[l][slot], slot, n, outs);
            }
            return m;
        }

        /** The rows the head writes for {@code count} outputs: the pass puts its callers' logits arrays in before it runs. */
        float[][] outputRows(int count) {
            if (outputRows[count] == null) outputRows[count] = new float[count][];
            return outputRows[count];
        }

        /** The output head's product over the first {@code count} inputs, into {@link #outputRows}. */
        Multiplication outputPlan(int count) {
            if (outputPlans[count] == null) outputPlans[count] = multiplication(outputGroup, OUTPUT, count, new float[][][] {outputRows(count)});
            return outputPlans[count];
        }

        private Multiplication multiplication(WeightMatrix[] matrices, int slot, int count, float[][][] outs) {
            WeightMatrix.Product[] products = new WeightMatrix.Product[matrices.length];
            for (int i = 0; i < matrices.length; i++) {
                products[i] = new WeightMatrix.Product(matrices[i], inputs[slot][matrices[i].type().ordinal()], count, outs[i]);
            }
            return new Multiplication(products);
        }
    }

    /**
     * Context shift ({@link KvCache#shift}): gives back {@code discard} positions after the first {@link KvCache#shiftSinks},
     * re-rotating the kept keys by {@code -discard} with this model's rope (per layer: its base, style and frequency
     * factors; no attention factor, which the keys already carry). The angles are built as {@link #ropeTable} builds them.
     */
    public void shift(KvCache cache, int discard) {
        int half = config.ropeDimensions() / 2;
        int[] position = {-discard};
        float[][] cos = new float[1][half], sin = new float[1][half], localCos = cos, localSin = sin;
        ropeTable(cos, sin, thetaScale, position, 1, 1f);
        if (localThetaScale != 0) {
            localCos = new float[1][half];
            localSin = new float[1][half];
            ropeTable(localCos, localSin, localThetaScale, position, 1, 1f);
        }
        float[] c = cos[0], s = sin[0], lc = localCos[0], ls = localSin[0];
        cache.shift(discard, cache.shiftSinks(), (layer, key, offset) -> {
            boolean local = localThetaScale != 0 && config.isLocal(layer);
            rotateHead(key, offset, local ? lc : c, local ? ls : s);
        });
    }

    /**
     * The RoPE table of one forward pass: cos and sin of every rotated pair's angle at each of the batch's positions,
     * built once and used by every layer. The angles are built as llama.cpp builds them, in float: theta = position,
     * multiplied by thetaScale once per pair (then divided by the frequency factor, if any), so the rounding matches;
     * cos and sin are multiplied by the rope's attention factor (1 unless the file sets one), as ggml's mscale.
     */
    private void ropeTable(float[][] cosTable, float[][] sinTable, float thetaScale, int[] positions, int count) {
        ropeTable(cosTable, sinTable, thetaScale, positions, count, weights.ropeAttentionFactor());
    }

    private void ropeTable(float[][] cosTable, float[][] sinTable, float thetaScale, int[] positions, int count, float mscale) {
        float[] factors = weights.ropeFreqFactors();
        for (int t = 0; t < count; t++) {
            float theta = positions[t];
            for (int i = 0; i < config.ropeDimensions() / 2; i++, theta *= thetaScale) {
                float angle = factors != null ? theta / factors[i] : theta;
                cosTable[t][i] = (float) Math.cos(angle) * mscale;
                sinTable[t][i] = (float) Math.sin(angle) * mscale;
            }
        }
    }

    /** Each head of {@code vec} RMS-normed with the head-sized {@code weight} (qwen3's q/k norm, before RoPE). */
    private void headNorm(float[] vec, int heads, float[] weight) {
        int hs = config.headSize();
        for (int h = 0; h < heads; h++) Ops.rmsNorm(vec, h * hs, vec, h * hs, weight, config.rmsNormEps());
    }

    /**
     * Rotates pairs of the first ropeDimensions of every head by the table's angles: adjacent pairs (2i, 2i+1) in
     * llama.cpp's "normal" mode, (i, i + ropeDimensions/2) in NeoX mode (qwen2).
     */
    private void rope(float[] vec, int heads, float[] cos, float[] sin) {
        for (int h = 0; h < heads; h++) rotateHead(vec, h * config.headSize(), cos, sin);
    }

    /** {@link #rope} of the one head at vec[offset, offset + headSize). */
    private void rotateHead(float[] vec, int offset, float[] cos, float[] sin) {
        int half = config.ropeDimensions() / 2;
        boolean neox = config.arch().rope() == Architecture.RopeStyle.NEOX;
        for (int i = 0; i < half; i++) {
            int j0 = offset + (neox ? i : 2 * i), j1 = offset + (neox ? i + half : 2 * i + 1);
            float x0 = vec[j0], x1 = vec[j1];
            vec[j0] = x0 * cos[i] - x1 * sin[i];
            vec[j1] = x0 * sin[i] + x1 * cos[i];
        }
    }

    /**
     * Causal attention of each new token over the cache (whose FULL heads already hold the new tokens).
     * One task per (token, KV head) serves all query heads of the GQA group: each cached key and value
     * row is read once for the whole group instead of once per query head. Per head the arithmetic is the
     * plain definition (scores, softmax, weighted values in position order), so the numbers do not depend
     * on the grouping.
     */
    private void attention(int layer, int count, Batch b, Parallel parallel) {
        int hs = config.headSize(), group = config.groupSize();
        // The head profiler's sequence always runs alone (PassScheduler.Work#alone).
        AttentionObserver observer = b.parts.size() == 1 ? b.parts.get(0).cache.observer() : null;
        boolean nativeKernel = Kernels.nativeSelected() && NativeKernels.attentionCovers(group, hs);
        if (observer == null && nativeKernel) {
            nativeAttention(layer, count, b, parallel);
        } else {
            javaAttention(layer, count, b, parallel, observer);
        }
        windowAttention(layer, b, parallel, nativeKernel);
    }

    /** The scores of a cache: an F16 cache rounds the probabilities as llama.cpp does. */
    private Scores scores(KvCache cache) {
        return cache.precision() == KvPrecision.F16 ? scoresF16 : scoresF32;
    }

    /**
     * The native tier's FULL-head attention: one call per (run, KV head), a run being up to {@link #CAUSAL_RUN} consecutive
     * rows of one sequence (a decode step is a run of one), whose keys and values the kernel reads once (attention.c).
     */
    private void nativeAttention(int layer, int count, Batch b, Parallel parallel) {
        FullAttention pass = b.fullAttention;
        pass.layer = layer;
        parallel.forRange(b.runs * config.kvHeadCount(), pass);
    }

    /** Rows of one sequence that share a FULL-head attention call: their keys are read once for all of them. */
    static final int CAUSAL_RUN = 16;

    /** {@link #nativeAttention}'s range body over (run, KV head) tasks, one per batch, reused for every layer. */
    private final class FullAttention implements Parallel.RangeBody {
        private final Batch b;
        private int layer;

        FullAttention(Batch b) {
            this.b = b;
        }

        @Override
        public void run(int from, int to) {
            int hs = config.headSize(), group = config.groupSize(), kvHeads = config.kvHeadCount(), gs = group * hs;
            AttentionScratch scratch = ATTENTION_SCRATCH.get();
            for (int task = from; task < to; task++) {
                int run = task / kvHeads, kvh = task % kvHeads, first = b.runRow[run], tokens = b.runCount[run];
                KvCache cache = b.rowCache[first];
                PassScheduler.Work part = b.parts.get(b.rowPart[first]);
                if (cache.compressed(layer, kvh) != null || part.failed()) continue;
                try {
                    Scores scores = scores(cache);
                    float[] q = scratch.runQueries(tokens * gs), out = scratch.runOutput(tokens * gs);
                    for (int t = 0; t < tokens; t++) roundedCopy(b.q[first + t], kvh * gs, q, t * gs, gs, scores.roundProbabilities());
                    int firstRows = b.position[first] + 1;
                    NativeKernels.attendCausal(scratch.runQuerySegment(), tokens, group, hs, cache.keySegment(layer, kvh), cache.valueSegment(layer, kvh),
                            firstRows, scores.scale(), scores.softcap(), scores.roundProbabilities(),
                            scratch.nativeScores(NativeKernels.causalScratch(tokens, group, firstRows)), scratch.runOutputSegment());
                    for (int t = 0; t < tokens; t++) System.arraycopy(out, t * gs, b.attnOut[first + t], kvh * gs, gs);
                } catch (RuntimeException e) {
                    part.fail(e);
                }
            }
        }
    }

    /**
     * The Java tier's FULL-head attention (and the profiler's, which needs every probability): scores,
     * softmax and weighted values in position order, as llama.cpp's non-flash CPU path rounds them.
     */
    private void javaAttention(int layer, int count, Batch b, Parallel parallel, AttentionObserver observer) {
        int hs = config.headSize(), group = config.groupSize(), kvHeads = config.kvHeadCount();
        parallel.forRange(count * kvHeads, (from, to) -> {
            AttentionScratch scratch = ATTENTION_SCRATCH.get();
            float[][] q = scratch.queries(group, hs);
            for (int task = from; task < to; task++) {
                int t = task / kvHeads, kvh = task % kvHeads;
                KvCache cache = b.rowCache[t];
                PassScheduler.Work part = b.parts.get(b.rowPart[t]);
                if (cache.compressed(layer, kvh) != null || part.failed()) continue;
                try {
                    attendJava(layer, t, kvh, cache, b, scratch, q, observer);
                } catch (RuntimeException e) {
                    part.fail(e);
                }
            }
        });
    }

    /** One (row, KV head) task of {@link #javaAttention}: the group's query heads over the FULL head's cache. */
    private void attendJava(int layer, int t, int kvh, KvCache cache, Batch b, AttentionScratch scratch, float[][] q, AttentionObserver observer) {
        int hs = config.headSize(), group = config.groupSize();
        boolean f16 = cache.precision() == KvPrecision.F16;
        Scores scores = scores(cache);
        int len = b.position[t] + 1;
        float[][] att = scratch.scores(group, len); // scores of the group's heads for one token, reused across the range
        float[] keys = cache.keys(layer, kvh), values = cache.values(layer, kvh);
        for (int g = 0; g < group; g++) {
            System.arraycopy(b.q[t], (kvh * group + g) * hs, q[g], 0, hs);
            if (f16) for (int i = 0; i < hs; i++) q[g][i] = Numerics.roundToF16(q[g][i]);
        }
        for (int p = 0; p < len; p++) {
            for (int g = 0; g < group; g++) att[g][p] = scores.logit(Ops.dot(q[g], 0, keys, p * hs, hs));
        }
        float[] out = b.attnOut[t];
        for (int g = 0; g < group; g++) {
            Ops.softmax(att[g], len);
            if (observer != null) observer.observe(layer, kvh * group + g, b.position[t], att[g], len);
            if (f16) for (int p = 0; p < len; p++) att[g][p] = Numerics.roundToF16(att[g][p]);
            java.util.Arrays.fill(out, (kvh * group + g) * hs, (kvh * group + g + 1) * hs, 0f);
        }
        for (int p = 0; p < len; p++) {
            for (int g = 0; g < group; g++) Ops.axpy(out, (kvh * group + g) * hs, att[g][p], values, p * hs, hs);
        }
    }

    /** Per worker thread: query copies and score rows of one GQA group (grown as the context grows), and head vectors. */
    private static final class AttentionScratch {
        private float[][] queries = new float[0][0], scores = new float[0][0];
        private float[] groupQueries = new float[0];

        private MemorySegment groupQuerySegment = MemorySegment.ofArray(groupQueries);

        /** The native path's queries of one GQA group, side by side: exactly {@code n} floats. */
        float[] groupQueries(int n) {
            if (groupQueries.length != n) groupQuerySegment = MemorySegment.ofArray(groupQueries = new float[n]);
            return groupQueries;
        }

        /** {@link #groupQueries} as a segment. */
        MemorySegment groupQuerySegment() {
            return groupQuerySegment;
        }

        private float[] nativeScores = new float[0];
        private MemorySegment nativeScoresSegment = MemorySegment.ofArray(nativeScores);

        /** The native attention's scratch: at least {@code n} floats (grown by doubling as the context grows). */
        MemorySegment nativeScores(long n) {
            if (n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("attention scratch of " + n + " floats");
            if (nativeScores.length < n) {
                nativeScoresSegment = MemorySegment.ofArray(nativeScores = new float[(int) Math.min(Integer.MAX_VALUE - 8, Math.max(n, 2L * nativeScores.length))]);
            }
            return nativeScoresSegment;
        }

        private float[] runQueries = new float[0], runOutput = new float[0];
        private MemorySegment runQuerySegment = MemorySegment.ofArray(runQueries), runOutputSegment = MemorySegment.ofArray(runOutput);

        /** The FULL-head attention's query rows of one run: at least {@code n} floats (grown, never shrunk: no garbage per step). */
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
        private final float[][] vectors = new float[3][];

        /** Scratch vector {@code i} of exactly {@code hs} floats (the compressed-head path copies whole arrays). */
        float[] vector(int i, int hs) {
            if (vectors[i] == null || vectors[i].length != hs) vectors[i] = new float[hs];
            return vectors[i];
        }

        float[][] queries(int group, int hs) {
            if (queries.length < group || queries[0].length < hs) queries = new float[group][hs];
            return queries;
        }

        float[][] scores(int group, int length) {
            if (scores.length < group || scores[0].length < length) scores = new float[group][Math.max(length, 2 * (scores.length == 0 ? 0 : scores[0].length))];
            return scores;
        }
    }

    private static final ThreadLocal<AttentionScratch> ATTENTION_SCRATCH = ThreadLocal.withInitial(AttentionScratch::new);

    /**
     * Compressed heads (WINDOW, HEAVY_HITTERS), token by token: each token is appended before its queries
     * attend and the head evicts after them, so every token sees the head as of itself, in a prefill batch
     * as in decode. Heads (of one sequence or of different ones) are independent and run in parallel.
     */
    private void windowAttention(int layer, Batch b, Parallel parallel, boolean nativeKernel) {
        int tasks = 0;
        for (int p = 0; p < b.parts.size(); p++) {
            for (int kvh : b.parts.get(p).cache.compressedKvHeads(layer)) {
                b.taskPart[tasks] = p;
                b.taskHead[tasks++] = kvh;
            }
        }
        if (tasks == 0) return;
        CompressedAttention pass = b.compressedAttention;
        pass.layer = layer;
        pass.nativeKernel = nativeKernel;
        parallel.forRange(tasks, pass);
    }

    /** {@link #windowAttention}'s range body over the layer's (part, compressed KV head) tasks, one per batch, reused. */
    private final class CompressedAttention implements Parallel.RangeBody {
        private final Batch b;
        private int layer;
        private boolean nativeKernel;

        CompressedAttention(Batch b) {
            this.b = b;
        }

        @Override
        public void run(int from, int to) {
            int hs = config.headSize(), group = config.groupSize();
            AttentionScratch scratch = ATTENTION_SCRATCH.get();
            float[] k = scratch.vector(0, hs), v = scratch.vector(1, hs), q = scratch.vector(2, hs);
            float[] groupQ = scratch.groupQueries(group * hs);
            for (int i = from; i < to; i++) {
                PassScheduler.Work part = b.parts.get(b.taskPart[i]);
                if (part.failed()) continue;
                try {
                    attendCompressed(part, b.taskHead[i], scratch, k, v, q, groupQ);
                } catch (RuntimeException e) {
                    part.fail(e);
                }
            }
        }

        /** One (sequence, compressed KV head) task: its rows appended and attended in order. */
        private void attendCompressed(PassScheduler.Work part, int kvh, AttentionScratch scratch, float[] k, float[] v, float[] q, float[] groupQ) {
            int hs = config.headSize(), group = config.groupSize();
            KvPrecision precision = part.cache.precision();
            boolean f16 = precision == KvPrecision.F16;
            Scores scores = scores(part.cache);
            CompressedHead head = part.cache.compressed(layer, kvh);
            // Window heads (RazorAttention's and the model's own sliding windows) attend in the native kernel on
            // that tier; the baselines' heads (heavy hitters, SnapKV) always in Java.
            WindowHead window = nativeKernel && head instanceof WindowHead w ? w : null;
            for (int t = part.row; t < part.row + part.count; t++) {
                precision.round(b.k[t], kvh * hs, k, 0, hs);
                precision.round(b.v[t], kvh * hs, v, 0, hs);
                head.append(k, 0, v, 0);
                if (window != null) {
                    roundedCopy(b.q[t], kvh * group * hs, groupQ, f16);
                    window.attendNative(scratch.groupQuerySegment(), group, scores,
                            scratch.nativeScores(NativeKernels.attentionScratch(group, window.entries())), b.attnOutSegments[t], kvh * group * hs);
                } else {
                    for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                        roundedCopy(b.q[t], h * hs, q, f16);
                        head.attend(q, 0, scores, b.attnOut[t], h * hs);
                    }
                }
                head.endToken();
            }
        }
    }

    /** out = src[from, from + out.length), rounded to F16 when the cache is F16 (as the FULL path rounds). */
    private static void roundedCopy(float[] src, int from, float[] out, boolean f16) {
        roundedCopy(src, from, out, 0, out.length, f16);
    }

    private static void roundedCopy(float[] src, int from, float[] out, int to, int n, boolean f16) {
        for (int i = 0; i < n; i++) out[to + i] = f16 ? Numerics.roundToF16(src[from + i]) : src[from + i];
    }
}
