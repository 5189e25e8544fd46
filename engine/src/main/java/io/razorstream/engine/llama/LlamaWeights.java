package io.razorstream.engine.llama;

import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.gguf.GgufTensorInfo;
import io.razorstream.engine.tensor.WeightMatrix;

import java.util.Arrays;

/** The weights of a llama model, as views over the mapped GGUF file (nothing is copied but the norms). */
public record LlamaWeights(
        WeightMatrix tokenEmbedding,
        float[] outputNorm,
        WeightMatrix output,
        Layer[] layers,
        float[] ropeFreqFactors) {

    /** One block; the q/k/v biases are null unless the architecture has them (qwen2). */
    public record Layer(float[] attnNorm, WeightMatrix wq, WeightMatrix wk, WeightMatrix wv, WeightMatrix wo,
                        float[] ffnNorm, WeightMatrix gate, WeightMatrix up, WeightMatrix down, float[] bq, float[] bk, float[] bv) {
        public Layer(float[] attnNorm, WeightMatrix wq, WeightMatrix wk, WeightMatrix wv, WeightMatrix wo,
                     float[] ffnNorm, WeightMatrix gate, WeightMatrix up, WeightMatrix down) {
            this(attnNorm, wq, wk, wv, wo, ffnNorm, gate, up, down, null, null, null);
        }
    }

    public static LlamaWeights load(GgufFile gguf, LlamaConfig c) {
        int d = c.embeddingLength();
        WeightMatrix embd = matrix(gguf, "token_embd.weight", c.vocabularySize(), d);
        // Tied embeddings: without output.weight the output projection reuses token_embd (as llama.cpp does).
        WeightMatrix output = gguf.tensor("output.weight") != null ? matrix(gguf, "output.weight", c.vocabularySize(), d) : embd;
        Layer[] layers = new Layer[c.blockCount()];
        for (int l = 0; l < layers.length; l++) {
            String p = "blk." + l + ".";
            layers[l] = new Layer(
                    vector(gguf, p + "attn_norm.weight", d),
                    matrix(gguf, p + "attn_q.weight", c.queryDim(), d),
                    matrix(gguf, p + "attn_k.weight", c.kvDim(), d),
                    matrix(gguf, p + "attn_v.weight", c.kvDim(), d),
                    matrix(gguf, p + "attn_output.weight", d, c.queryDim()),
                    vector(gguf, p + "ffn_norm.weight", d),
                    matrix(gguf, p + "ffn_gate.weight", c.feedForwardLength(), d),
                    matrix(gguf, p + "ffn_up.weight", c.feedForwardLength(), d),
                    matrix(gguf, p + "ffn_down.weight", d, c.feedForwardLength()),
                    optionalVector(gguf, p + "attn_q.bias", c.queryDim()),
                    optionalVector(gguf, p + "attn_k.bias", c.kvDim()),
                    optionalVector(gguf, p + "attn_v.bias", c.kvDim()));
        }
        float[] freqFactors = gguf.tensor("rope_freqs.weight") != null ? vector(gguf, "rope_freqs.weight", c.ropeDimensions() / 2) : null;
        return new LlamaWeights(embd, vector(gguf, "output_norm.weight", d), output, layers, freqFactors);
    }

    private static GgufTensorInfo tensor(GgufFile gguf, String name, long... shape) {
        GgufTensorInfo t = gguf.tensor(name);
        if (t == null) throw new GgufFormatException(gguf.path(), "tensor " + name + " is missing");
        if (!Arrays.equals(t.shape(), shape)) {
            throw new GgufFormatException(gguf.path(), "tensor " + name + " has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        if (!t.type().supported()) {
            throw new GgufFormatException(gguf.path(), "tensor " + name + " has type " + t.type()
                    + ", which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)");
        }
        return t;
    }

    private static WeightMatrix matrix(GgufFile gguf, String name, int rows, int cols) {
        GgufTensorInfo t = tensor(gguf, name, cols, rows);
        return WeightMatrix.of(t.type(), gguf.tensorData(t), rows, cols);
    }

    private static float[] optionalVector(GgufFile gguf, String name, int n) {
        return gguf.tensor(name) == null ? null : vector(gguf, name, n);
    }

    private static float[] vector(GgufFile gguf, String name, int n) {
        GgufTensorInfo t = tensor(gguf, name, n);
        float[] out = new float[n];
        WeightMatrix.of(t.type(), gguf.tensorData(t), 1, n).dequantizeRow(0, out, 0);
        return out;
    }
}
