package io.razorstream.engine.model;

import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.gguf.GgufTensorInfo;
import io.razorstream.engine.kernel.WeightMatrix;
import io.razorstream.engine.model.arch.Architecture;
import io.razorstream.engine.model.arch.Architecture.Feature;

import java.util.Arrays;
import java.util.Locale;

/**
 * The weights of a llama model, as views over the mapped GGUF file (nothing is copied but the norms; the native kernel
 * tier makes its own copies of some types, see {@code WeightMatrix.prepareForKernels}), and the rope's scaling:
 * per-pair frequency factors (null: none) and the factor on every cos and sin (1: none).
 */
public record ModelWeights(
        WeightMatrix tokenEmbedding,
        float[] outputNorm,
        WeightMatrix output,
        Layer[] layers,
        float[] ropeFreqFactors,
        float ropeAttentionFactor) {

    /**
     * One block; the q/k/v biases are null unless the file has them (required where the architecture says so: qwen2),
     * the per-head q/k norm weights and the post norms null unless the architecture has them (qwen3, gemma). Fused
     * projections (phi3) arrive here split into row views of the one matrix.
     */
    public record Layer(
            float[] attnNorm,
            WeightMatrix wq,
            WeightMatrix wk,
            WeightMatrix wv,
            WeightMatrix wo,
            float[] ffnNorm,
            WeightMatrix gate,
            WeightMatrix up,
            WeightMatrix down,
            float[] bq,
            float[] bk,
            float[] bv,
            float[] qNorm,
            float[] kNorm,
            float[] postAttentionNorm,
            float[] postFfnNorm) {}

    public static ModelWeights load(GgufFile gguf, ModelConfig c) {
        int d = c.embeddingLength(), ffn = c.feedForwardLength();
        Architecture arch = c.arch();
        WeightMatrix embd = matrix(gguf, "token_embd.weight", c.vocabularySize(), d);
        // Tied embeddings: without output.weight the output projection reuses token_embd (as llama.cpp does).
        boolean ownOutput = gguf.tensor("output.weight") != null && !arch.has(Feature.TIED_OUTPUT);
        WeightMatrix output = ownOutput ? matrix(gguf, "output.weight", c.vocabularySize(), d) : embd;
        boolean qkNorm = arch.has(Feature.QK_NORM), postNorms = arch.has(Feature.POST_NORMS);
        Layer[] layers = new Layer[c.blockCount()];
        for (int l = 0; l < layers.length; l++) {
            String p = "blk." + l + ".";
            WeightMatrix wq, wk, wv, gate, up;
            if (arch.has(Feature.FUSED_PROJECTIONS)) {
                WeightMatrix qkv = matrix(gguf, p + "attn_qkv.weight", c.queryDim() + 2 * c.kvDim(), d);
                wq = qkv.rows(0, c.queryDim());
                wk = qkv.rows(c.queryDim(), c.kvDim());
                wv = qkv.rows(c.queryDim() + c.kvDim(), c.kvDim());
                WeightMatrix gateUp = matrix(gguf, p + "ffn_up.weight", 2 * ffn, d);
                gate = gateUp.rows(0, ffn);
                up = gateUp.rows(ffn, ffn);
            } else {
                wq = matrix(gguf, p + "attn_q.weight", c.queryDim(), d);
                wk = matrix(gguf, p + "attn_k.weight", c.kvDim(), d);
                wv = matrix(gguf, p + "attn_v.weight", c.kvDim(), d);
                gate = matrix(gguf, p + "ffn_gate.weight", ffn, d);
                up = matrix(gguf, p + "ffn_up.weight", ffn, d);
            }
            layers[l] = new Layer(
                    vector(gguf, p + "attn_norm.weight", d),
                    wq,
                    wk,
                    wv,
                    matrix(gguf, p + "attn_output.weight", d, c.queryDim()),
                    vector(gguf, p + "ffn_norm.weight", d),
                    gate,
                    up,
                    matrix(gguf, p + "ffn_down.weight", d, ffn),
                    bias(gguf, c, p + "attn_q.bias", c.queryDim()),
                    bias(gguf, c, p + "attn_k.bias", c.kvDim()),
                    bias(gguf, c, p + "attn_v.bias", c.kvDim()),
                    qkNorm ? vector(gguf, p + "attn_q_norm.weight", c.headSize()) : null,
                    qkNorm ? vector(gguf, p + "attn_k_norm.weight", c.headSize()) : null,
                    postNorms ? vector(gguf, p + "post_attention_norm.weight", d) : null,
                    postNorms ? vector(gguf, p + "post_ffw_norm.weight", d) : null);
        }
        return new ModelWeights(
                embd,
                vector(gguf, "output_norm.weight", d),
                output,
                layers,
                freqFactors(gguf, c),
                ropeAttentionFactor(gguf, c));
    }

    /**
     * The rope's per-pair frequency factors (each pair's angle is divided by its factor), or null: a {@code rope_freqs}
     * tensor (Llama 3.1's scaling), else LongRoPE's pair of tensors (Phi-3 128k), else a linear factor from metadata.
     * LongRoPE chooses as llama.cpp does: the long factors when the context run exceeds
     * {@code rope.scaling.original_context_length}; this engine runs the model's whole trained context, so a 128k file
     * gets its long factors (llama.cpp picks the short ones when started with a {@code -c} at or below the original
     * context).
     */
    static float[] freqFactors(GgufFile gguf, ModelConfig c) {
        int pairs = c.ropeDimensions() / 2;
        if (gguf.tensor("rope_freqs.weight") != null) return vector(gguf, "rope_freqs.weight", pairs);
        boolean hasLong = gguf.tensor("rope_factors_long.weight") != null,
                hasShort = gguf.tensor("rope_factors_short.weight") != null;
        if (hasLong != hasShort) {
            throw new GgufFormatException(
                    gguf.path(),
                    "LongRoPE needs both rope_factors_long and rope_factors_short; the file has only "
                            + (hasLong ? "rope_factors_long" : "rope_factors_short"));
        }
        if (hasLong) {
            if (scalingFactors(gguf, c) != null) {
                throw new GgufFormatException(
                        gguf.path(), "LongRoPE factors together with a linear rope scaling factor are not supported");
            }
            return vector(
                    gguf, longRopeTakesLong(gguf, c) ? "rope_factors_long.weight" : "rope_factors_short.weight", pairs);
        }
        return scalingFactors(gguf, c);
    }

    /**
     * LongRoPE's choice: the long factors when the model's context exceeds
     * {@code rope.scaling.original_context_length}.
     */
    private static boolean longRopeTakesLong(GgufFile gguf, ModelConfig c) {
        return c.contextLength() > originalContext(gguf, c);
    }

    private static long originalContext(GgufFile gguf, ModelConfig c) {
        var original = gguf.get(c.architecture() + ".rope.scaling.original_context_length");
        return original != null ? original.asLong() : c.contextLength();
    }

    /**
     * The rope scaling {@link #freqFactors} and {@link #ropeAttentionFactor} take from the file, in words (for
     * inspect).
     */
    public static String ropeScaling(GgufFile gguf, ModelConfig c) {
        float[] factors = freqFactors(gguf, c); // validates, as loading does
        String what;
        if (gguf.tensor("rope_freqs.weight") != null) what = "frequency factors from the rope_freqs tensor";
        else if (gguf.tensor("rope_factors_long.weight") != null) {
            boolean takesLong = longRopeTakesLong(gguf, c);
            what = String.format(
                    Locale.ROOT,
                    "LongRoPE, the %s factors (context %d %s original %d)",
                    takesLong ? "long" : "short",
                    c.contextLength(),
                    takesLong ? ">" : "<=",
                    originalContext(gguf, c));
        } else what = factors == null ? "none" : "linear, factor " + factors[0];
        float attention = ropeAttentionFactor(gguf, c);
        return what + (attention != 1f ? ", attention factor " + attention : "");
    }

    /**
     * {@code rope.scaling.attn_factor} (1 when absent): llama.cpp multiplies every rope cos and sin by it, which scales
     * q and k (LongRoPE's converters write sqrt(1 + ln(scale) / ln(original context)) there).
     */
    static float ropeAttentionFactor(GgufFile gguf, ModelConfig c) {
        var factor = gguf.get(c.architecture() + ".rope.scaling.attn_factor");
        float f = factor != null ? factor.asFloat() : 1f;
        if (!(f > 0) || Float.isInfinite(f))
            throw new GgufFormatException(gguf.path(), "rope.scaling.attn_factor must be a positive number, got " + f);
        return f;
    }

    /**
     * Rope frequency factors from metadata when the file has no {@code rope_freqs} tensor: linear scaling
     * ({@code rope.scaling.type = linear}, or the older {@code rope.scale_linear}) divides every angle by the factor,
     * as llama.cpp's freq_scale = 1/factor does. Llama 3's scaling arrives as the tensor. Other schemes (YaRN) change
     * more than the angles and are refused rather than run wrongly.
     */
    static float[] scalingFactors(GgufFile gguf, ModelConfig c) {
        String arch = c.architecture();
        var type = gguf.get(arch + ".rope.scaling.type");
        var factor = gguf.get(arch + ".rope.scaling.factor");
        var oldLinear = gguf.get(arch + ".rope.scale_linear");
        String t = type != null ? type.asString() : oldLinear != null ? "linear" : "none";
        float f = factor != null ? factor.asFloat() : oldLinear != null ? oldLinear.asFloat() : 1f;
        return switch (t) {
            case "none" -> null;
            case "linear" -> {
                if (!(f > 0)) throw new GgufFormatException(gguf.path(), "rope scaling factor must be > 0, got " + f);
                if (f == 1f) yield null;
                float[] factors = new float[c.ropeDimensions() / 2];
                Arrays.fill(factors, f);
                yield factors;
            }
            default ->
                throw new GgufFormatException(
                        gguf.path(),
                        "rope scaling '" + t + "' is not supported (supported: none, linear, "
                                + "and frequency factors in a rope_freqs tensor)");
        };
    }

    private static GgufTensorInfo tensor(GgufFile gguf, String name, long... shape) {
        GgufTensorInfo t = gguf.tensor(name);
        if (t == null) throw new GgufFormatException(gguf.path(), "tensor " + name + " is missing");
        if (!Arrays.equals(t.shape(), shape)) {
            throw new GgufFormatException(
                    gguf.path(),
                    "tensor " + name + " has shape " + Arrays.toString(t.shape()) + ", expected "
                            + Arrays.toString(shape));
        }
        if (!t.type().supported()) {
            throw new GgufFormatException(
                    gguf.path(),
                    "tensor " + name + " has type " + t.type()
                            + ", which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)");
        }
        return t;
    }

    private static WeightMatrix matrix(GgufFile gguf, String name, int rows, int cols) {
        GgufTensorInfo t = tensor(gguf, name, cols, rows);
        return WeightMatrix.of(t.type(), gguf.tensorData(t), rows, cols);
    }

    /**
     * An attention bias: required by families that have them, loaded when present in the others (as llama.cpp does).
     */
    private static float[] bias(GgufFile gguf, ModelConfig c, String name, int n) {
        return gguf.tensor(name) == null && !c.arch().has(Feature.ATTENTION_BIASES) ? null : vector(gguf, name, n);
    }

    private static float[] vector(GgufFile gguf, String name, int n) {
        GgufTensorInfo t = tensor(gguf, name, n);
        float[] out = new float[n];
        WeightMatrix.of(t.type(), gguf.tensorData(t), 1, n).dequantizeRow(0, out, 0);
        return out;
    }
}
