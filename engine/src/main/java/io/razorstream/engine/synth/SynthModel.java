package io.razorstream.engine.synth;

import io.razorstream.engine.gguf.GgufWriter;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Quantizer;
import io.razorstream.engine.tokenizer.SpmVocabularyWriter;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A small {@code llama} GGUF whose weights are constructed so that its retrieval heads are known: it copies what
 * followed an earlier occurrence of the current bigram (after "#K7Q2" once, "...#" continues with "K7Q2"). See
 * docs/SYNTH-MODEL.md for the construction; the numbers follow ../shared/docs/SYNTH.md.
 *
 * <p>Residual stream (D = 416): one-hot codes of the current token [0, 96), of the previous token [96, 192), of the
 * token two back [192, 288), an answer subspace [288, 384), and a constant dimension 384. Layer 0: two previous-token
 * heads (offsets 1 and 2, found with RoPE on the high-frequency pairs) copy codes into the previous-token subspaces;
 * two local heads write nothing. Layer 1: an induction head (query: current + previous codes, key: previous + two-back
 * codes, on the lowest-frequency pairs) copies the matched position's code into the answer subspace, which the output
 * head reads; an echo head attends to earlier copies of the current token; two local heads write nothing. Feed-forward
 * is zero.
 */
public final class SynthModel {
    public static final int CODES = 96; // printable ASCII 32..126 (95) and BOS
    public static final int D = 416;
    public static final int HEADS = 4, LAYERS = 2, HEAD_SIZE = 256, FFN = 32;
    public static final float ROPE_BASE = 1e30f;
    static final int ID = 0, PREV1 = 96, PREV2 = 192, ANSWER = 288, CONST = 384;
    static final int FIRST_CHAR = SpmVocabularyWriter.FIRST_PIECE; // the printable characters follow the byte tokens
    public static final int VOCAB = FIRST_CHAR + 95;

    /** Heads by role, as (layer, head). The induction and echo heads are the model's retrieval heads. */
    public static final int[] INDUCTION = {1, 0}, ECHO = {1, 1};

    public static final int[][] PREVIOUS = {{0, 0}, {0, 1}}, LOCAL = {{0, 2}, {0, 3}, {1, 2}, {1, 3}};

    private static final float EMBED = 1f;
    private static final double PEAK_SCORE = 3000; // raw q.k at the target offset (before 1/sqrt(head size))
    private static final int OFFSET_PAIRS = 12; // high-frequency rotary pairs used by the offset heads
    private static final int MATCH_PAIR = 29; // first low-frequency pair (theta <= 1.6e-7 with base 1e30)
    private static final float MATCH_GAIN = 20f; // per-element q and k at a code match
    private static final float ECHO_GAIN = 12f;
    private static final float ANSWER_LOGIT = 20f;

    private SynthModel() {}

    /** The code of a token: printable characters 0..94, BOS 95, anything else none (-1). */
    public static int code(int token) {
        if (token == 1) return 95;
        int c = token - FIRST_CHAR;
        return c >= 0 && c < 95 ? c : -1;
    }

    /** Normalised magnitude of one unit entry of a residual holding {@code entries} unit entries. */
    private static double normalised(int entries) {
        return Math.sqrt((double) D / entries);
    }

    public static void write(Path out, GgmlType type) throws IOException {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", "razorstream synthetic retrieval model");
        w.putUint32("llama.context_length", 65536);
        w.putUint32("llama.embedding_length", D);
        w.putUint32("llama.block_count", LAYERS);
        w.putUint32("llama.feed_forward_length", FFN);
        w.putUint32("llama.attention.head_count", HEADS);
        w.putUint32("llama.attention.head_count_kv", HEADS);
        w.putUint32("llama.attention.key_length", HEAD_SIZE);
        w.putUint32("llama.attention.value_length", HEAD_SIZE);
        w.putUint32("llama.rope.dimension_count", HEAD_SIZE);
        w.putFloat32("llama.rope.freq_base", ROPE_BASE);
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        vocabulary(w);

        float[] embd = new float[VOCAB * D];
        for (int t = 0; t < VOCAB; t++) {
            int c = code(t);
            if (c >= 0) embd[t * D + ID + c] = EMBED;
            embd[t * D + CONST] = EMBED;
        }
        add(w, "token_embd.weight", type, embd, D, VOCAB);
        add(w, "output_norm.weight", GgmlType.F32, ones(D), D);

        // Output: the answer subspace holds (after the final norm) ~normalised(5) per unit entry.
        float[] output = new float[VOCAB * D];
        for (int t = 0; t < VOCAB; t++) {
            int c = code(t);
            if (c >= 0 && t != 1) output[t * D + ANSWER + c] = (float) (ANSWER_LOGIT / normalised(5));
        }
        add(w, "output.weight", type, output, D, VOCAB);

        int qd = HEADS * HEAD_SIZE;
        for (int l = 0; l < LAYERS; l++) {
            float[] wq = new float[qd * D], wk = new float[qd * D], wv = new float[qd * D], wo = new float[D * qd];
            double c = normalised(l == 0 ? 2 : 4); // unit entries in the residual entering this layer
            if (l == 0) {
                offsetHead(wq, wk, 0, 1, c);
                copyCodes(wv, wo, 0, ID, PREV1, c);
                offsetHead(wq, wk, 1, 2, c);
                copyCodes(wv, wo, 1, ID, PREV2, c);
                offsetHead(wq, wk, 2, 0, c);
                offsetHead(wq, wk, 3, 3, c);
            } else {
                matchHead(wq, wk, 0, new int[] {ID, PREV1}, new int[] {PREV1, PREV2}, MATCH_GAIN, c);
                copyCodes(wv, wo, 0, ID, ANSWER, c);
                matchHead(wq, wk, 1, new int[] {ID}, new int[] {ID}, ECHO_GAIN, c);
                offsetHead(wq, wk, 2, 0, c);
                offsetHead(wq, wk, 3, 2, c);
            }
            String p = "blk." + l + ".";
            add(w, p + "attn_norm.weight", GgmlType.F32, ones(D), D);
            add(w, p + "attn_q.weight", type, wq, D, qd);
            add(w, p + "attn_k.weight", type, wk, D, qd);
            add(w, p + "attn_v.weight", type, wv, D, qd);
            add(w, p + "attn_output.weight", type, wo, qd, D);
            add(w, p + "ffn_norm.weight", GgmlType.F32, ones(D), D);
            add(w, p + "ffn_gate.weight", type, new float[FFN * D], D, FFN);
            add(w, p + "ffn_up.weight", type, new float[FFN * D], D, FFN);
            add(w, p + "ffn_down.weight", type, new float[D * FFN], FFN, D);
        }
        w.write(out);
    }

    /**
     * A head whose score peaks where the key is {@code offset} positions back: q and k read the constant dimension on
     * the high-frequency pairs, the key pre-rotated by the offset, so q.k = sum of S w_k cos(theta_k (distance -
     * offset)). Half the weight on theta = 1, the rest spread evenly.
     */
    private static void offsetHead(float[] wq, float[] wk, int head, int offset, double c) {
        double scale = Math.pow(ROPE_BASE, -2.0 / HEAD_SIZE);
        double theta = 1;
        for (int k = 0; k < OFFSET_PAIRS; k++, theta *= scale) {
            double weight = k == 0 ? 0.5 : 0.5 / (OFFSET_PAIRS - 1);
            double a = Math.sqrt(PEAK_SCORE * weight) / c;
            int row = head * HEAD_SIZE + 2 * k;
            wq[row * D + CONST] = (float) a;
            wk[row * D + CONST] = (float) (a * Math.cos(theta * offset));
            wk[(row + 1) * D + CONST] = (float) (a * Math.sin(theta * offset));
        }
    }

    /**
     * q = gain x (codes of the query subspaces), k = gain x (codes of the key subspaces), on the lowest-frequency
     * pairs.
     */
    private static void matchHead(
            float[] wq, float[] wk, int head, int[] querySpaces, int[] keySpaces, float gain, double c) {
        for (int s = 0; s < querySpaces.length; s++) {
            for (int code = 0; code < CODES; code++) {
                int row = head * HEAD_SIZE + 2 * MATCH_PAIR + s * CODES + code;
                wq[row * D + querySpaces[s] + code] = (float) (gain / c);
                wk[row * D + keySpaces[s] + code] = (float) (gain / c);
            }
        }
    }

    /** The head's value carries the codes of {@code from}; its output writes them, unit-sized, into {@code to}. */
    private static void copyCodes(float[] wv, float[] wo, int head, int from, int to, double c) {
        int qd = HEADS * HEAD_SIZE;
        for (int code = 0; code < CODES; code++) {
            int row = head * HEAD_SIZE + code;
            wv[row * D + from + code] = 1f;
            wo[(to + code) * qd + row] = (float) (EMBED / c);
        }
    }

    /** One token per printable character (space as U+2581), no merges, BOS added, no space prefix. */
    private static void vocabulary(GgufWriter w) {
        List<String> pieces = new ArrayList<>();
        for (char ch = 32; ch < 127; ch++) pieces.add(ch == ' ' ? "\u2581" : String.valueOf(ch));
        SpmVocabularyWriter.write(w, pieces, new float[pieces.size()]);
        w.putBool("tokenizer.ggml.add_space_prefix", false);
        w.putBool("tokenizer.ggml.add_bos_token", true);
    }

    private static float[] ones(int n) {
        float[] x = new float[n];
        Arrays.fill(x, 1f);
        return x;
    }

    private static void add(GgufWriter w, String name, GgmlType type, float[] values, long... shape) {
        w.addTensor(name, type, shape, Quantizer.quantize(type, values));
    }
}
