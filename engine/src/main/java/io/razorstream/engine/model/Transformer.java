package io.razorstream.engine.model;

import io.razorstream.engine.attention.Attention;
import io.razorstream.engine.attention.AttentionRows;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.kernel.Activation;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Ops;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.kernel.WeightMatrix;
import io.razorstream.engine.kernel.WeightMatrix.Multiplication;
import io.razorstream.engine.model.arch.Architecture;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The transformer of the llama-like families, driven by the model's {@link Architecture}: per layer, RMSNorm, the Q/K/V
 * projections, {@link Rope}, grouped-query {@link Attention} over the sequence's {@link KvCache}, the output
 * projection, then the SwiGLU (or GeGLU) feed-forward; output norm and head. Stateless apart from the weights: the
 * sequence state lives in the cache. {@link #forward} runs a batch of tokens in one pass (prefill) or a single token
 * (decode) through the same code, so both give the same numbers; passes of several sequences are gathered by a
 * {@link PassScheduler}.
 */
public final class Transformer {
    private final ModelConfig config;
    private final ModelWeights weights;
    private final Rope rope;
    private final Attention attention;
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
        this.rope = new Rope(config, weights.ropeFreqFactors(), weights.ropeAttentionFactor());
        boolean prescale = config.arch().has(Architecture.Feature.QUERY_PRESCALE);
        this.queryScale = prescale ? config.attentionScale() : 1f;
        this.attention = new Attention(
                config.headCount(),
                config.kvHeadCount(),
                config.headSize(),
                prescale ? 1f : config.attentionScale(),
                config.attentionSoftcap());
        this.groups = new WeightMatrix[config.blockCount()][][];
        for (int l = 0; l < groups.length; l++) {
            ModelWeights.Layer layer = weights.layers()[l];
            groups[l] = new WeightMatrix[][] {
                {layer.wq(), layer.wk(), layer.wv()}, {layer.wo()}, {layer.gate(), layer.up()}, {layer.down()}
            };
        }
        this.outputGroup = new WeightMatrix[] {weights.output()};
        // The native tier's copies of the matrices, made at load (~1 s per GB here) and not on the first turn.
        for (WeightMatrix[][] layer : groups)
            for (WeightMatrix[] group : layer) for (WeightMatrix m : group) m.prepareForKernels();
        weights.output().prepareForKernels();
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

    /** The model's rotary embedding: what a context shift re-rotates the cached keys with ({@link KvCache#shift}). */
    public Rope rope() {
        return rope;
    }

    public KvCache newCache(int maxTokens, KvPrecision precision) {
        return new KvCache(config.cacheShape(), Math.min(maxTokens, config.contextLength()), precision);
    }

    /** A cache whose heads follow {@code policy} (RazorAttention: retrieval heads full, the others windowed). */
    public KvCache newCache(int maxTokens, KvPrecision precision, KvPolicy policy) {
        return new KvCache(config.cacheShape(), Math.min(maxTokens, config.contextLength()), precision, policy);
    }

    /**
     * Runs {@code count} tokens starting at {@code tokens[from]} at the cache's next positions, appends their keys and
     * values to the cache and returns the logits after the last of them.
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
     * One decode step: appends {@code token} to the cache and writes the logits after it into {@code logits} (one per
     * vocabulary entry). Uses this thread's one-token work item, so a decode loop that passes the same array allocates
     * nothing per token on the native kernel tier (the Java tier's activations are still allocated per matrix).
     */
    public void decode(KvCache cache, int token, float[] logits, Parallel parallel) {
        if (logits.length != config.vocabularySize()) {
            throw new IllegalArgumentException(
                    "logits has " + logits.length + " entries, the vocabulary " + config.vocabularySize());
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
     * Checks the work and makes room in its cache (on the caller's thread: a refusal fails only this caller), then runs
     * it in the next forward pass, together with whatever other sequences are waiting (see {@link PassScheduler}).
     */
    private void run(PassScheduler.Work w) {
        for (int t = 0; t < w.count; t++) {
            int tok = w.tokens[w.from + t];
            if (tok < 0 || tok >= config.vocabularySize()) {
                throw new IllegalArgumentException(
                        "token id " + tok + " is outside the vocabulary (0.." + (config.vocabularySize() - 1) + ")");
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
     * One forward pass over the rows of every part (each part: consecutive tokens of one sequence), weight matrices
     * applied once to all rows, RoPE per row at its own position, attention per row over its own cache. A row's numbers
     * do not depend on the other rows on the native tier (its GEMM computes every (row, token) pair the same way); on
     * the Java tier, a batch of several rows takes the float GEMM, a single row the quantised dot. Loops over the parts
     * are indexed: an iterator per loop would be garbage per decoded token (DecodeAllocationTest).
     */
    void pass(List<PassScheduler.Work> parts, Parallel parallel) {
        int d = config.embeddingLength();
        int outCount = 0;
        for (int pi = 0; pi < parts.size(); pi++) outCount += parts.get(pi).logits.length;
        int rowCount = 0;
        for (int pi = 0; pi < parts.size(); pi++) rowCount += parts.get(pi).count;
        Batch b = batch(rowCount);
        AttentionRows rows = b.rows;
        int count = rows.begin(parts);
        float[][] x = b.x, q = rows.queries(), k = rows.keys(), v = rows.values();
        for (int pi = 0; pi < parts.size(); pi++) {
            PassScheduler.Work p = parts.get(pi);
            int first = rows.firstRow(pi);
            for (int t = 0; t < p.count; t++) weights.tokenEmbedding().embeddingRow(p.tokens[p.from + t], x[first + t]);
        }
        if (config.arch().has(Architecture.Feature.EMBEDDING_SCALE)) {
            float scale = (float) Math.sqrt(d);
            for (int t = 0; t < count; t++) Ops.scale(x[t], d, scale);
        }
        rope.table(b.cos, b.sin, rows.positions(), count, false);
        if (rope.hasLocalBase()) rope.table(b.localCos, b.localSin, rows.positions(), count, true);

        boolean gelu = config.arch().has(Architecture.Feature.GELU_FFN);
        for (int l = 0; l < config.blockCount(); l++) {
            ModelWeights.Layer layer = weights.layers()[l];
            boolean local = rope.usesLocalTable(l);
            float[][] cos = local ? b.localCos : b.cos, sin = local ? b.localSin : b.sin;
            for (int t = 0; t < count; t++) Ops.rmsNorm(b.normed[t], x[t], layer.attnNorm(), config.rmsNormEps());
            b.multiply(l, QKV, b.normed, count, parallel);
            for (int t = 0; t < count; t++) {
                if (layer.bq() != null) Ops.add(q[t], layer.bq(), config.queryDim());
                if (layer.bk() != null) Ops.add(k[t], layer.bk(), config.kvDim());
                if (layer.bv() != null) Ops.add(v[t], layer.bv(), config.kvDim());
                if (layer.qNorm() != null) {
                    headNorm(q[t], config.headCount(), layer.qNorm());
                    headNorm(k[t], config.kvHeadCount(), layer.kNorm());
                }
                rope.rotate(q[t], config.headCount(), cos[t], sin[t]);
                rope.rotate(k[t], config.kvHeadCount(), cos[t], sin[t]);
                if (queryScale != 1f) Ops.scale(q[t], config.queryDim(), queryScale);
            }
            attention.run(l, rows, parallel);
            b.multiply(l, WO, rows.output(), count, parallel);
            residual(x, b.projected, layer.postAttentionNorm(), count);

            for (int t = 0; t < count; t++) Ops.rmsNorm(b.normed[t], x[t], layer.ffnNorm(), config.rmsNormEps());
            b.multiply(l, GATE_UP, b.normed, count, parallel);
            for (int t = 0; t < count; t++) {
                if (gelu) Ops.geglu(b.gate[t], b.up[t], config.feedForwardLength());
                else Ops.swiglu(b.gate[t], b.up[t], config.feedForwardLength());
            }
            b.multiply(l, DOWN, b.gate, count, parallel);
            residual(x, b.projected, layer.postFfnNorm(), count);
        }
        for (int pi = 0; pi < parts.size(); pi++) {
            PassScheduler.Work p = parts.get(pi);
            if (!p.failed()) p.cache.advance(p.count);
        }
        head(parts, b, outCount, parallel);
        rows.end();
    }

    /** x += the block's output, RMS-normed first when the family norms it ({@code norm} not null). */
    private void residual(float[][] x, float[][] out, float[] norm, int count) {
        if (norm != null) for (int t = 0; t < count; t++) Ops.rmsNorm(out[t], out[t], norm, config.rmsNormEps());
        for (int t = 0; t < count; t++) Ops.add(x[t], out[t], config.embeddingLength());
    }

    /** The output norm and head over each part's last logits.length rows, into the parts' logits arrays. */
    private void head(List<PassScheduler.Work> parts, Batch b, int outCount, Parallel parallel) {
        float[][] finalNormed = b.normed, outRows = b.outputRows(outCount); // normed is free again: outCount <= count
        int o = 0;
        for (int pi = 0; pi < parts.size(); pi++) {
            PassScheduler.Work p = parts.get(pi);
            for (int i = 0; i < p.logits.length; i++, o++) {
                Ops.rmsNorm(
                        finalNormed[o],
                        b.x[b.rows.firstRow(pi) + p.count - p.logits.length + i],
                        weights.outputNorm(),
                        config.rmsNormEps());
                outRows[o] = p.logits[i];
            }
        }
        b.prepare(OUTPUT, outputGroup, finalNormed, outCount);
        b.outputPlan(outCount).run(parallel);
        if (config.finalSoftcap() > 0)
            for (int i = 0; i < outCount; i++) Ops.softcap(outRows[i], outRows[i].length, config.finalSoftcap());
        for (int i = 0; i < outCount; i++) outRows[i] = null; // the callers' arrays are not kept
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

    private final Map<Integer, Batch> batches = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, Batch> eldest) {
            return size() > 8;
        }
    };

    /**
     * Per-token scratch buffers of one forward pass (every entry is overwritten before it is read), with the prepared
     * inputs and the matrix products over them, built once per batch: decode's batch lives as long as its thread, so a
     * decoded token allocates nothing on the native tier.
     */
    private final class Batch {
        final int n;
        final float[][] x, normed, projected, gate, up;
        /** This pass's RoPE table: per token, cos and sin of each rotated pair's angle. */
        final float[][] cos, sin;
        /** The local layers' table when their rope base differs (gemma3), else null. */
        final float[][] localCos, localSin;
        /** The rows as attention sees them: queries, keys, values and output, and each row's sequence and position. */
        final AttentionRows rows;
        /** Prepared inputs per group slot and weight type, overwritten in place by each pass. */
        final Activation[][][] inputs = new Activation[OUTPUT + 1][GgmlType.values().length][];
        /** Per layer and group, the products over {@link #inputs} into this batch's rows. */
        final Multiplication[][] plans;
        /**
         * Per output count: the head's input rows are the pass's logits arrays, set before it runs (see
         * {@link #outputRows}).
         */
        private final Multiplication[] outputPlans;

        private final float[][][] outputRows;

        Batch(int n) {
            this.n = n;
            int d = config.embeddingLength(), half = config.ropeDimensions() / 2;
            x = new float[n][d];
            normed = new float[n][d];
            projected = new float[n][d];
            gate = new float[n][config.feedForwardLength()];
            up = new float[n][config.feedForwardLength()];
            cos = new float[n][half];
            sin = new float[n][half];
            localCos = rope.hasLocalBase() ? new float[n][half] : null;
            localSin = rope.hasLocalBase() ? new float[n][half] : null;
            rows = new AttentionRows(n, config.queryDim(), config.kvDim(), config.kvHeadCount());
            outputPlans = new Multiplication[n + 1];
            outputRows = new float[n + 1][][];
            for (Activation[][] slot : inputs)
                for (int type = 0; type < slot.length; type++) slot[type] = new Activation[n];
            plans = new Multiplication[config.blockCount()][OUTPUT];
        }

        /**
         * Layer {@code l}'s group {@code slot} over xs[0, count): inputs prepared once per weight type, then the
         * products.
         */
        void multiply(int l, int slot, float[][] xs, int count, Parallel parallel) {
            prepare(slot, groups[l][slot], xs, count);
            plan(l, slot).run(parallel);
        }

        /**
         * Prepares xs[0, count) once per weight type among {@code matrices} (q, k and v usually share one) into the
         * slot's inputs.
         */
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
                    case QKV -> new float[][][] {rows.queries(), rows.keys(), rows.values()};
                    case GATE_UP -> new float[][][] {gate, up};
                    default -> new float[][][] {projected};
                };
                plans[l][slot] = m = multiplication(groups[l][slot], slot, n, outs);
            }
            return m;
        }

        /**
         * The rows the head writes for {@code count} outputs: the pass puts its callers' logits arrays in before it
         * runs.
         */
        float[][] outputRows(int count) {
            if (outputRows[count] == null) outputRows[count] = new float[count][];
            return outputRows[count];
        }

        /** The output head's product over the first {@code count} inputs, into {@link #outputRows}. */
        Multiplication outputPlan(int count) {
            if (outputPlans[count] == null)
                outputPlans[count] = multiplication(outputGroup, OUTPUT, count, new float[][][] {outputRows(count)});
            return outputPlans[count];
        }

        private Multiplication multiplication(WeightMatrix[] matrices, int slot, int count, float[][][] outs) {
            WeightMatrix.Product[] products = new WeightMatrix.Product[matrices.length];
            for (int i = 0; i < matrices.length; i++) {
                products[i] = new WeightMatrix.Product(
                        matrices[i], inputs[slot][matrices[i].type().ordinal()], count, outs[i]);
            }
            return new Multiplication(products);
        }
    }

    /** Each head of {@code vec} RMS-normed with the head-sized {@code weight} (qwen3's q/k norm, before RoPE). */
    private void headNorm(float[] vec, int heads, float[] weight) {
        int hs = config.headSize();
        for (int h = 0; h < heads; h++) Ops.rmsNorm(vec, h * hs, vec, h * hs, weight, config.rmsNormEps());
    }
}
