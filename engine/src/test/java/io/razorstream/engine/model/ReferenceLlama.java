package io.razorstream.engine.model;

import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufTensorInfo;
import io.razorstream.engine.gguf.GgufValue;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Quantizer;

import java.nio.ByteBuffer;

/**
 * A deliberately plain scalar implementation of the {@code llama} forward pass, written straight from the math for
 * testing {@link Transformer}. It shares nothing with the engine except reading the file ({@link GgufFile}) and
 * decoding weights ({@link Quantizer#dequantize}, the scalar reference decoder): every weight is dequantised to floats
 * up front and all arithmetic is done in double, position by position, with no KV cache (keys and values of all earlier
 * positions are simply kept in arrays).
 *
 * <p>With {@link Rounding#LIKE_LLAMA_CPP}, the input of every matrix product is first rounded to what llama.cpp's CPU
 * backend feeds that weight type's dot product (F16 for F16 weights, BF16 for BF16, a Q8_0-quantised copy for Q8_0 and
 * Q4_0; F32 unchanged): re-implemented here from llama.cpp's {@code quantize_row_q8_0} / {@code GGML_FP32_TO_BF16}, not
 * taken from the engine. With {@link Rounding#NONE} the reference is the exact math on the stored weights.
 *
 * <p>{@link Variant}s other than {@link Variant#CORRECT} are deliberately wrong models, used to show that a test's
 * tolerance is tight enough to catch such a bug.
 */
final class ReferenceLlama {

    enum Rounding {
        NONE,
        LIKE_LLAMA_CPP
    }

    /** The correct model and some plausible bugs. */
    enum Variant {
        CORRECT,
        /** RoPE on the halves (i, i + hs/2) of each head (NeoX style) instead of adjacent pairs. */
        ROPE_NEOX_PAIRS,
        /** No RoPE at all. */
        NO_ROPE,
        /** Query head h reads KV head h % kvHeads instead of h / (heads / kvHeads). */
        GQA_MODULO,
        /** RMSNorm without its weight (before attention, before the FFN and at the output). */
        NO_NORM_WEIGHT,
        /** Attention scores not divided by sqrt(head size). */
        NO_ATTENTION_SCALE,
        /** silu(up) * gate instead of silu(gate) * up. */
        SWAPPED_GATE_UP,
        /** RMSNorm without its epsilon. */
        RMS_EPS_IGNORED,
        /** RoPE base 10000 whatever the file says (llama.rope.freq_base ignored). */
        ROPE_BASE_IGNORED
    }

    /** A weight matrix of rows x cols, row-major (GGUF shape [cols, rows]). */
    record Matrix(GgmlType type, int rows, int cols, float[] w) {}

    record Layer(
            float[] attnNorm,
            Matrix wq,
            Matrix wk,
            Matrix wv,
            Matrix wo,
            float[] ffnNorm,
            Matrix gate,
            Matrix up,
            Matrix down) {}

    final int d, layers, heads, kvHeads, hs, ff, vocab;
    final double eps, ropeBase;
    final Matrix tokenEmbd, output;
    final float[] outputNorm;
    final Layer[] blocks;

    ReferenceLlama(GgufFile f) {
        d = intKey(f, "llama.embedding_length", -1);
        layers = intKey(f, "llama.block_count", -1);
        heads = intKey(f, "llama.attention.head_count", -1);
        kvHeads = intKey(f, "llama.attention.head_count_kv", heads);
        ff = intKey(f, "llama.feed_forward_length", -1);
        hs = d / heads;
        GgufValue e = f.get("llama.attention.layer_norm_rms_epsilon");
        eps = e == null ? 1e-5f : e.asFloat();
        GgufValue b = f.get("llama.rope.freq_base");
        ropeBase = b == null ? 10000f : b.asFloat();
        tokenEmbd = matrix(f, "token_embd.weight");
        vocab = tokenEmbd.rows();
        output = f.tensor("output.weight") != null ? matrix(f, "output.weight") : tokenEmbd;
        outputNorm = vector(f, "output_norm.weight");
        blocks = new Layer[layers];
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            blocks[l] = new Layer(
                    vector(f, p + "attn_norm.weight"),
                    matrix(f, p + "attn_q.weight"),
                    matrix(f, p + "attn_k.weight"),
                    matrix(f, p + "attn_v.weight"),
                    matrix(f, p + "attn_output.weight"),
                    vector(f, p + "ffn_norm.weight"),
                    matrix(f, p + "ffn_gate.weight"),
                    matrix(f, p + "ffn_up.weight"),
                    matrix(f, p + "ffn_down.weight"));
        }
    }

    private static int intKey(GgufFile f, String key, int fallback) {
        GgufValue v = f.get(key);
        if (v == null) {
            if (fallback < 0) throw new IllegalArgumentException(key + " is missing");
            return fallback;
        }
        return v.asInt();
    }

    private static float[] decode(GgufFile f, String name) {
        GgufTensorInfo t = f.tensor(name);
        if (t == null) throw new IllegalArgumentException("tensor " + name + " is missing");
        ByteBuffer bytes = f.tensorData(t).asByteBuffer();
        float[] out = new float[Math.toIntExact(t.elementCount())];
        Quantizer.dequantize(t.type(), bytes, 0, out, 0, out.length);
        return out;
    }

    private static Matrix matrix(GgufFile f, String name) {
        GgufTensorInfo t = f.tensor(name);
        return new Matrix(
                t == null ? null : t.type(),
                t == null ? 0 : (int) t.shape()[1],
                t == null ? 0 : (int) t.shape()[0],
                decode(f, name));
    }

    private static float[] vector(GgufFile f, String name) {
        return decode(f, name);
    }

    /** Logits (vocab floats) after each of {@code tokens}, run from position 0. */
    float[][] forward(int[] tokens, Rounding rounding) {
        return forward(tokens, rounding, Variant.CORRECT);
    }

    float[][] forward(int[] tokens, Rounding rounding, Variant variant) {
        int n = tokens.length;
        // keys[l][p] / values[l][p]: the (post-RoPE) key and value rows of position p in layer l.
        double[][][] keys = new double[layers][n][];
        double[][][] values = new double[layers][n][];
        float[][] logits = new float[n][];
        for (int pos = 0; pos < n; pos++) {
            double[] x = new double[d];
            for (int i = 0; i < d; i++) x[i] = tokenEmbd.w()[tokens[pos] * d + i];
            for (int l = 0; l < layers; l++) {
                Layer L = blocks[l];
                double[] h = rmsNorm(x, L.attnNorm(), variant);
                double[] q = matvec(L.wq(), h, rounding);
                double[] k = matvec(L.wk(), h, rounding);
                double[] v = matvec(L.wv(), h, rounding);
                rope(q, heads, pos, variant);
                rope(k, kvHeads, pos, variant);
                keys[l][pos] = k;
                values[l][pos] = v;

                double[] att = new double[heads * hs];
                int group = heads / kvHeads;
                for (int head = 0; head < heads; head++) {
                    int kvHead = variant == Variant.GQA_MODULO ? head % kvHeads : head / group;
                    double[] scores = new double[pos + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int p = 0; p <= pos; p++) {
                        double s = 0;
                        for (int i = 0; i < hs; i++) s += q[head * hs + i] * keys[l][p][kvHead * hs + i];
                        scores[p] = variant == Variant.NO_ATTENTION_SCALE ? s : s / Math.sqrt(hs);
                        max = Math.max(max, scores[p]);
                    }
                    double sum = 0;
                    for (int p = 0; p <= pos; p++) {
                        scores[p] = Math.exp(scores[p] - max);
                        sum += scores[p];
                    }
                    for (int p = 0; p <= pos; p++) {
                        double wgt = scores[p] / sum;
                        for (int i = 0; i < hs; i++) att[head * hs + i] += wgt * values[l][p][kvHead * hs + i];
                    }
                }
                double[] o = matvec(L.wo(), att, rounding);
                for (int i = 0; i < d; i++) x[i] += o[i];

                h = rmsNorm(x, L.ffnNorm(), variant);
                double[] g = matvec(L.gate(), h, rounding);
                double[] u = matvec(L.up(), h, rounding);
                double[] act = new double[ff];
                for (int i = 0; i < ff; i++) {
                    act[i] = variant == Variant.SWAPPED_GATE_UP ? silu(u[i]) * g[i] : silu(g[i]) * u[i];
                }
                double[] down = matvec(L.down(), act, rounding);
                for (int i = 0; i < d; i++) x[i] += down[i];
            }
            double[] out = matvec(output, rmsNorm(x, outputNorm, variant), rounding);
            logits[pos] = new float[vocab];
            for (int i = 0; i < vocab; i++) logits[pos][i] = (float) out[i];
        }
        return logits;
    }

    private static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    private double[] rmsNorm(double[] x, float[] w, Variant variant) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double e = variant == Variant.RMS_EPS_IGNORED ? 0 : eps;
        double scale = 1 / Math.sqrt(ss / x.length + e);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] * scale * (variant == Variant.NO_NORM_WEIGHT ? 1 : w[i]);
        return out;
    }

    /** Rotates pairs (2i, 2i+1) of every head by pos * base^(-2i/hs). */
    private void rope(double[] vec, int nHeads, int pos, Variant variant) {
        if (variant == Variant.NO_ROPE) return;
        for (int head = 0; head < nHeads; head++) {
            for (int i = 0; i < hs / 2; i++) {
                double base = variant == Variant.ROPE_BASE_IGNORED ? 10000 : ropeBase;
                double theta = pos * Math.pow(base, -2.0 * i / hs);
                int a = head * hs + 2 * i, b = a + 1;
                if (variant == Variant.ROPE_NEOX_PAIRS) {
                    a = head * hs + i;
                    b = a + hs / 2;
                }
                double x0 = vec[a], x1 = vec[b];
                vec[a] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
                vec[b] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
            }
        }
    }

    private static double[] matvec(Matrix m, double[] x, Rounding rounding) {
        double[] in = rounding == Rounding.LIKE_LLAMA_CPP ? roundInput(m.type(), x) : x;
        double[] out = new double[m.rows()];
        for (int r = 0; r < m.rows(); r++) {
            double s = 0;
            for (int i = 0; i < m.cols(); i++) s += (double) m.w()[r * m.cols() + i] * in[i];
            out[r] = s;
        }
        return out;
    }

    /** The input values the weight type's dot product multiplies with, as llama.cpp's CPU backend forms them. */
    static double[] roundInput(GgmlType type, double[] x) {
        double[] out = new double[x.length];
        switch (type) {
            case F32 -> {
                for (int i = 0; i < x.length; i++) out[i] = (float) x[i];
            }
            case F16 -> {
                for (int i = 0; i < x.length; i++) out[i] = Float.float16ToFloat(Float.floatToFloat16((float) x[i]));
            }
            case BF16 -> {
                for (int i = 0; i < x.length; i++) out[i] = toBf16((float) x[i]);
            }
            case Q8_0, Q4_0 -> {
                // quantize_row_q8_0 (x86): d = amax/127 stored as F16; q = round-half-even(x * 127/amax).
                for (int b = 0; b < x.length; b += 32) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs((float) x[b + j]));
                    float id = amax != 0 ? 127f / amax : 0f;
                    float dScale = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
                    for (int j = 0; j < 32; j++) out[b + j] = Math.rint((float) x[b + j] * id) * (double) dScale;
                }
            }
            default -> throw new IllegalArgumentException("no dot type for " + type);
        }
        return out;
    }

    /** Round to nearest even to bfloat16 (finite inputs). */
    private static float toBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        int rounded = (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
        return Float.intBitsToFloat(rounded);
    }

    /** Largest |a - b| over all positions and logits. */
    static double maxAbsDiff(float[][] a, float[][] b) {
        double m = 0;
        for (int p = 0; p < a.length; p++) {
            for (int i = 0; i < a[p].length; i++) m = Math.max(m, Math.abs((double) a[p][i] - b[p][i]));
        }
        return m;
    }

    /** Largest |logit| over all positions (the scale errors are judged against). */
    static double maxAbs(float[][] a) {
        double m = 0;
        for (float[] row : a) for (float v : row) m = Math.max(m, Math.abs(v));
        return m;
    }
}
