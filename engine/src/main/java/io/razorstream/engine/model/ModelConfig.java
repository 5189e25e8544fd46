package io.razorstream.engine.model;

import io.razorstream.engine.attention.CacheShape;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.gguf.GgufValue;
import io.razorstream.engine.gguf.GgufValueType;
import io.razorstream.engine.model.arch.Architecture;
import io.razorstream.engine.model.arch.Family;

/**
 * Hyper-parameters of a model of one of the llama-like families ({@link Architecture}), read from GGUF metadata. Keys
 * that are absent take llama.cpp's defaults (rope base 10000, KV heads = heads, head size = embedding / heads, rope
 * dimensions = head size, RMS epsilon 1e-5).
 */
public record ModelConfig(
        int embeddingLength,
        int blockCount,
        int headCount,
        int kvHeadCount,
        int headSize,
        int feedForwardLength,
        int vocabularySize,
        int contextLength,
        float rmsNormEps,
        float ropeFreqBase,
        int ropeDimensions,
        Architecture arch,
        float attentionScale,
        float attentionSoftcap,
        float finalSoftcap,
        SlidingWindow slidingWindow) {

    /**
     * The model's own sliding-window attention: a local layer's query at position p sees the keys at positions q <= p
     * with p - q < {@code size} (llama.cpp's standard rule), with RoPE base {@code ropeBase}; global layers see
     * everything. {@link #NONE} for the families without one.
     */
    public record SlidingWindow(int size, boolean[] local, float ropeBase) {
        public static final SlidingWindow NONE = new SlidingWindow(0, new boolean[0], 0);

        public boolean isLocal(int layer) {
            return layer < local.length && local[layer];
        }

        /** The number of local layers. */
        public int localLayers() {
            int n = 0;
            for (boolean b : local) if (b) n++;
            return n;
        }
    }

    /** A llama-architecture configuration (adjacent-pair rotation). */
    public ModelConfig(
            int embeddingLength,
            int blockCount,
            int headCount,
            int kvHeadCount,
            int headSize,
            int feedForwardLength,
            int vocabularySize,
            int contextLength,
            float rmsNormEps,
            float ropeFreqBase,
            int ropeDimensions) {
        this(
                embeddingLength,
                blockCount,
                headCount,
                kvHeadCount,
                headSize,
                feedForwardLength,
                vocabularySize,
                contextLength,
                rmsNormEps,
                ropeFreqBase,
                ropeDimensions,
                Architecture.named("llama"),
                (float) (1.0 / Math.sqrt(headSize)),
                0,
                0,
                SlidingWindow.NONE);
    }

    /** What the cache of a sequence of this model is made for. */
    public CacheShape cacheShape() {
        return new CacheShape(
                blockCount(),
                kvHeadCount(),
                headSize(),
                slidingWindow().local(),
                slidingWindow().size());
    }

    /** This configuration with another sliding window (what-if runs: a model with its window removed or widened). */
    public ModelConfig withSlidingWindow(SlidingWindow window) {
        return new ModelConfig(
                embeddingLength,
                blockCount,
                headCount,
                kvHeadCount,
                headSize,
                feedForwardLength,
                vocabularySize,
                contextLength,
                rmsNormEps,
                ropeFreqBase,
                ropeDimensions,
                arch,
                attentionScale,
                attentionSoftcap,
                finalSoftcap,
                window);
    }

    /** Whether {@code layer} is a local (sliding-window) layer. */
    public boolean isLocal(int layer) {
        return slidingWindow.isLocal(layer);
    }

    public static ModelConfig from(GgufFile gguf) {
        GgufValue archValue = gguf.get("general.architecture");
        if (archValue == null) throw new GgufFormatException(gguf.path(), "general.architecture is missing");
        if (archValue.type() != GgufValueType.STRING) {
            throw new GgufFormatException(
                    gguf.path(), "general.architecture is not a string: " + archValue.describe(4));
        }
        String arch = archValue.asString();
        Family family = Family.named(arch);
        if (family == null) {
            throw new GgufFormatException(
                    gguf.path(),
                    "unsupported architecture '" + arch + "' (supported: " + String.join(", ", Family.names()) + ")");
        }
        int embd = required(gguf, arch, "embedding_length");
        int heads = required(gguf, arch, "attention.head_count");
        int kvHeads = optional(gguf, arch, "attention.head_count_kv", heads);
        int headSize = optional(gguf, arch, "attention.key_length", heads > 0 ? embd / heads : 0);
        int valueSize = optional(gguf, arch, "attention.value_length", headSize);
        int blocks = required(gguf, arch, "block_count");
        int ffn = required(gguf, arch, "feed_forward_length");
        int ctx = optional(gguf, arch, "context_length", 2048);
        GgufValue eps = gguf.get(arch + ".attention.layer_norm_rms_epsilon");
        GgufValue base = gguf.get(arch + ".rope.freq_base");
        int ropeDims = optional(gguf, arch, "rope.dimension_count", headSize);
        var tokens = gguf.get("tokenizer.ggml.tokens");
        var embdTensor = gguf.tensor("token_embd.weight");
        if (embdTensor == null) throw new GgufFormatException(gguf.path(), "tensor token_embd.weight is missing");
        int vocab = (int) embdTensor.shape()[embdTensor.shape().length - 1];
        if (tokens != null && tokens.asArray().size() != vocab) {
            throw new GgufFormatException(
                    gguf.path(),
                    "tokenizer has " + tokens.asArray().size() + " tokens but token_embd.weight has " + vocab
                            + " rows");
        }
        float ropeBase = base == null ? 10000f : base.asFloat();
        ModelConfig c = new ModelConfig(
                embd,
                blocks,
                heads,
                kvHeads,
                headSize,
                ffn,
                vocab,
                ctx,
                eps == null ? 1e-5f : eps.asFloat(),
                ropeBase,
                ropeDims,
                family.architecture(),
                family.attentionScale(blocks, embd, heads, headSize),
                optionalFloat(gguf, arch + ".attn_logit_softcapping"),
                optionalFloat(gguf, arch + ".final_logit_softcapping"),
                slidingWindow(gguf, family.architecture(), blocks, ropeBase));
        String problem = c.problem(valueSize);
        if (problem != null) throw new GgufFormatException(gguf.path(), problem);
        return c;
    }

    /**
     * The family's sliding window: {@code attention.sliding_window} tokens on the local layers, which are given by
     * {@code attention.sliding_window_pattern} (a period, or one flag per layer) or else the family's default period
     * (the last layer of each period is global). Families without a period never use a window, as in llama.cpp.
     */
    private static SlidingWindow slidingWindow(GgufFile gguf, Architecture family, int blocks, float ropeBase) {
        String arch = family.name();
        GgufValue size = gguf.get(arch + ".attention.sliding_window");
        if (family.slidingWindowPeriod() == 0 || size == null) return SlidingWindow.NONE;
        int window = toInt(gguf, arch + ".attention.sliding_window", size);
        if (window == 0) return SlidingWindow.NONE;
        boolean[] local = new boolean[blocks];
        GgufValue pattern = gguf.get(arch + ".attention.sliding_window_pattern");
        if (pattern != null && pattern.type() == GgufValueType.ARRAY) {
            var flags = pattern.asArray();
            if (flags.size() != blocks) {
                throw new GgufFormatException(
                        gguf.path(),
                        arch + ".attention.sliding_window_pattern has " + flags.size() + " entries for " + blocks
                                + " layers");
            }
            for (int l = 0; l < blocks; l++) local[l] = flags.get(l).asBoolean();
        } else {
            int period = pattern == null
                    ? family.slidingWindowPeriod()
                    : toInt(gguf, arch + ".attention.sliding_window_pattern", pattern);
            if (period < 1)
                throw new GgufFormatException(
                        gguf.path(), arch + ".attention.sliding_window_pattern must be >= 1, got " + period);
            for (int l = 0; l < blocks; l++) local[l] = l % period < period - 1;
        }
        GgufValue localBase = gguf.get(arch + ".rope.freq_base_swa");
        float base = localBase != null
                ? localBase.asFloat()
                : family.localRopeBase() > 0 ? family.localRopeBase() : ropeBase;
        return new SlidingWindow(window, local, base);
    }

    private static float optionalFloat(GgufFile gguf, String key) {
        GgufValue v = gguf.get(key);
        return v == null ? 0f : v.asFloat();
    }

    private String problem(int valueSize) {
        if (embeddingLength <= 0
                || blockCount <= 0
                || headCount <= 0
                || kvHeadCount <= 0
                || headSize <= 0
                || feedForwardLength <= 0
                || contextLength <= 0) {
            return "non-positive hyper-parameter in " + this;
        }
        if (headCount % kvHeadCount != 0)
            return "head_count " + headCount + " is not a multiple of head_count_kv " + kvHeadCount;
        if (valueSize != headSize)
            return "attention.value_length " + valueSize + " differs from key_length " + headSize + " (not supported)";
        if (ropeDimensions % 2 != 0 || ropeDimensions > headSize)
            return "rope.dimension_count " + ropeDimensions + " is odd or larger than the head size";
        return null;
    }

    private static int required(GgufFile gguf, String arch, String suffix) {
        GgufValue v = gguf.get(arch + "." + suffix);
        if (v == null) throw new GgufFormatException(gguf.path(), "metadata " + arch + "." + suffix + " is missing");
        return toInt(gguf, arch + "." + suffix, v);
    }

    private static int optional(GgufFile gguf, String arch, String suffix, int fallback) {
        GgufValue v = gguf.get(arch + "." + suffix);
        return v == null ? fallback : toInt(gguf, arch + "." + suffix, v);
    }

    private static int toInt(GgufFile gguf, String key, GgufValue v) {
        if (!v.isInteger())
            throw new GgufFormatException(gguf.path(), "metadata " + key + " is not an integer: " + v.describe(4));
        long x = v.asLong();
        if (x < 0 || x > Integer.MAX_VALUE)
            throw new GgufFormatException(gguf.path(), "metadata " + key + " is out of range: " + x);
        return (int) x;
    }

    /** The GGUF name of the model's family ({@code general.architecture}). */
    public String architecture() {
        return arch.name();
    }

    public int kvDim() {
        return kvHeadCount * headSize;
    }

    public int queryDim() {
        return headCount * headSize;
    }

    /** Query heads per KV head (grouped-query attention). */
    public int groupSize() {
        return headCount / kvHeadCount;
    }
}
