package io.razorstream.engine.llama;

import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.gguf.GgufValue;
import io.razorstream.engine.gguf.GgufValueType;
import io.razorstream.engine.llama.arch.Architecture;

/**
 * Hyper-parameters of a model of one of the llama-like families ({@link Architecture}), read from GGUF metadata. Keys that are absent
 * take llama.cpp's defaults (rope base 10000, KV heads = heads, head size = embedding / heads, rope
 * dimensions = head size, RMS epsilon 1e-5).
 */
public record LlamaConfig(
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
        Architecture arch) {

    /** A llama-architecture configuration (adjacent-pair rotation). */
    public LlamaConfig(int embeddingLength, int blockCount, int headCount, int kvHeadCount, int headSize, int feedForwardLength,
                       int vocabularySize, int contextLength, float rmsNormEps, float ropeFreqBase, int ropeDimensions) {
        this(embeddingLength, blockCount, headCount, kvHeadCount, headSize, feedForwardLength, vocabularySize, contextLength, rmsNormEps,
                ropeFreqBase, ropeDimensions, Architecture.named("llama"));
    }

    public static LlamaConfig from(GgufFile gguf) {
        GgufValue archValue = gguf.get("general.architecture");
        if (archValue == null) throw new GgufFormatException(gguf.path(), "general.architecture is missing");
        if (archValue.type() != GgufValueType.STRING) {
            throw new GgufFormatException(gguf.path(), "general.architecture is not a string: " + archValue.describe(4));
        }
        String arch = archValue.asString();
        Architecture family = Architecture.named(arch);
        if (family == null) {
            throw new GgufFormatException(gguf.path(), "unsupported architecture '" + arch + "' (supported: " + String.join(", ", Architecture.names()) + ")");
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
            throw new GgufFormatException(gguf.path(), "tokenizer has " + tokens.asArray().size() + " tokens but token_embd.weight has " + vocab + " rows");
        }
        LlamaConfig c = new LlamaConfig(embd, blocks, heads, kvHeads, headSize, ffn, vocab, ctx,
                eps == null ? 1e-5f : eps.asFloat(), base == null ? 10000f : base.asFloat(), ropeDims, family);
        String problem = c.problem(valueSize);
        if (problem != null) throw new GgufFormatException(gguf.path(), problem);
        return c;
    }

    private String problem(int valueSize) {
        if (embeddingLength <= 0 || blockCount <= 0 || headCount <= 0 || kvHeadCount <= 0 || headSize <= 0
                || feedForwardLength <= 0 || contextLength <= 0) {
            return "non-positive hyper-parameter in " + this;
        }
        if (headCount % kvHeadCount != 0) return "head_count " + headCount + " is not a multiple of head_count_kv " + kvHeadCount;
        if (valueSize != headSize) return "attention.value_length " + valueSize + " differs from key_length " + headSize + " (not supported)";
        if (ropeDimensions % 2 != 0 || ropeDimensions > headSize) return "rope.dimension_count " + ropeDimensions + " is odd or larger than the head size";
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
        if (!v.isInteger()) throw new GgufFormatException(gguf.path(), "metadata " + key + " is not an integer: " + v.describe(4));
        long x = v.asLong();
        if (x < 0 || x > Integer.MAX_VALUE) throw new GgufFormatException(gguf.path(), "metadata " + key + " is out of range: " + x);
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
