package io.razorstream.engine.model;

import io.razorstream.engine.gguf.GgufValue;
import io.razorstream.engine.gguf.GgufWriter;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Quantizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Test utility: writes tiny {@code llama}-architecture GGUF files with random weights, so that model code can be tested
 * without any downloaded model.
 *
 * <p>Matrices are drawn from N(0, {@code weightStd}) (0.05 by default) and stored in {@code weightType} (through
 * {@link Quantizer#quantize}); norm weights are 1 + N(0, 0.05), always F32. The tokenizer is a SentencePiece ("llama")
 * vocabulary: {@code <unk>} (type 2), {@code <s>} and {@code </s>} (type 3), the 256 byte tokens
 * {@code <0x00>}..{@code <0xFF>} (type 6), then normal tokens (type 1): U+2581 for space, the printable ASCII
 * characters, then two-character strings, until the vocabulary is full. Scores are 0 for special and byte tokens and -i
 * for normal token i. BOS is 1, EOS 2.
 *
 * <p>Tensor shapes are in GGUF order (fastest dimension first), as llama.cpp writes them. All random numbers come from
 * one {@link Random} seeded with {@code seed} and are drawn in a fixed order, so the same {@link Spec} always gives the
 * same file, whatever optional keys are present.
 */
public final class TinyLlamaFiles {
    private TinyLlamaFiles() {}

    public static final String SPACE = "\u2581";
    /** Number of tokens before the first normal token: unk, bos, eos and 256 byte tokens. */
    public static final int FIRST_NORMAL_TOKEN = 3 + 256;

    /**
     * What to write. {@code ropeFreqBase} and {@code rmsEps} may be null: the key is then left out of the metadata.
     * {@code omitTensors} names tensors to leave out of the file; {@code shapeOverrides} replaces the shape of named
     * tensors (random data of the new shape is written), both for testing error handling.
     */
    public record Spec(
            int embedding,
            int layers,
            int heads,
            int kvHeads,
            int feedForward,
            int vocab,
            int context,
            GgmlType weightType,
            boolean tiedOutput,
            long seed,
            Float ropeFreqBase,
            Float rmsEps,
            float weightStd,
            Set<String> omitTensors,
            Map<String, long[]> shapeOverrides,
            Map<String, Float> scales) {

        public Spec {
            if (embedding % heads != 0)
                throw new IllegalArgumentException("embedding " + embedding + " is not a multiple of heads " + heads);
            if (heads % kvHeads != 0)
                throw new IllegalArgumentException("heads " + heads + " is not a multiple of kvHeads " + kvHeads);
            if (vocab < FIRST_NORMAL_TOKEN)
                throw new IllegalArgumentException("vocab must be at least " + FIRST_NORMAL_TOKEN);
            omitTensors = Set.copyOf(omitTensors);
            shapeOverrides = Map.copyOf(shapeOverrides);
            scales = Map.copyOf(scales);
        }

        /**
         * d=64, 2 layers, 4 heads, 2 KV heads, ff=96, vocab 300, context 64, F32, untied, seed 42, base 10000, eps
         * 1e-5.
         */
        public static Spec defaults() {
            return new Spec(
                    64,
                    2,
                    4,
                    2,
                    96,
                    300,
                    64,
                    GgmlType.F32,
                    false,
                    42L,
                    10000f,
                    1e-5f,
                    0.05f,
                    Set.of(),
                    Map.of(),
                    Map.of());
        }

        public int headSize() {
            return embedding / heads;
        }

        public Spec withDims(int embedding, int layers, int heads, int kvHeads, int feedForward) {
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    scales);
        }

        public Spec withVocab(int vocab) {
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    scales);
        }

        public Spec withContext(int context) {
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    scales);
        }

        public Spec withWeightType(GgmlType weightType) {
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    scales);
        }

        public Spec withTiedOutput(boolean tiedOutput) {
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    scales);
        }

        public Spec withSeed(long seed) {
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    scales);
        }

        /** null leaves {@code llama.rope.freq_base} out of the file. */
        public Spec withRopeFreqBase(Float ropeFreqBase) {
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    scales);
        }

        /** null leaves {@code llama.attention.layer_norm_rms_epsilon} out of the file. */
        public Spec withRmsEps(Float rmsEps) {
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    scales);
        }

        public Spec withWeightStd(float weightStd) {
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    scales);
        }

        public Spec withoutTensor(String name) {
            Set<String> omit = new HashSet<>(omitTensors);
            omit.add(name);
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omit,
                    shapeOverrides,
                    scales);
        }

        /**
         * The named tensor's random values multiplied by {@code factor} (for equivalence tests: the same draws,
         * scaled).
         */
        public Spec withTensorScaled(String name, float factor) {
            Map<String, Float> s = new HashMap<>(scales);
            s.put(name, factor);
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapeOverrides,
                    s);
        }

        public Spec withTensorShape(String name, long... shape) {
            Map<String, long[]> shapes = new HashMap<>(shapeOverrides);
            shapes.put(name, shape.clone());
            return new Spec(
                    embedding,
                    layers,
                    heads,
                    kvHeads,
                    feedForward,
                    vocab,
                    context,
                    weightType,
                    tiedOutput,
                    seed,
                    ropeFreqBase,
                    rmsEps,
                    weightStd,
                    omitTensors,
                    shapes,
                    scales);
        }
    }

    /** Writes {@code spec} to {@code path} and returns the path. */
    public static Path write(Path path, Spec spec) {
        try {
            writer(spec).write(path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return path;
    }

    /** The vocabulary texts of a tiny model of {@code size} tokens. */
    public static List<String> vocabulary(int size) {
        List<String> tokens = new ArrayList<>(size);
        tokens.add("<unk>");
        tokens.add("<s>");
        tokens.add("</s>");
        for (int b = 0; b < 256; b++) tokens.add(String.format("<0x%02X>", b));
        List<String> singles = new ArrayList<>();
        singles.add(SPACE);
        for (char c = '!'; c <= '~'; c++) singles.add(String.valueOf(c));
        for (int i = 0; i < singles.size() && tokens.size() < size; i++) tokens.add(singles.get(i));
        outer:
        for (String a : singles) {
            for (String b : singles) {
                if (tokens.size() >= size) break outer;
                tokens.add(a + b);
            }
        }
        if (tokens.size() < size)
            throw new IllegalArgumentException("vocabulary of " + size + " is too large for this generator");
        return tokens;
    }

    /** A writer holding the whole model (metadata and tensors), for tests that want to add to it. */
    public static GgufWriter writer(Spec s) {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", "tiny-random-llama");
        w.putUint32("llama.embedding_length", s.embedding());
        w.putUint32("llama.block_count", s.layers());
        w.putUint32("llama.feed_forward_length", s.feedForward());
        w.putUint32("llama.attention.head_count", s.heads());
        w.putUint32("llama.attention.head_count_kv", s.kvHeads());
        w.putUint32("llama.context_length", s.context());
        if (s.rmsEps() != null) w.putFloat32("llama.attention.layer_norm_rms_epsilon", s.rmsEps());
        if (s.ropeFreqBase() != null) w.putFloat32("llama.rope.freq_base", s.ropeFreqBase());

        List<String> tokens = vocabulary(s.vocab());
        float[] scores = new float[tokens.size()];
        int[] types = new int[tokens.size()];
        for (int i = 0; i < tokens.size(); i++) {
            if (i == 0) types[i] = 2;
            else if (i < 3) types[i] = 3;
            else if (i < FIRST_NORMAL_TOKEN) types[i] = 6;
            else {
                types[i] = 1;
                scores[i] = -i;
            }
        }
        w.putString("tokenizer.ggml.model", "llama");
        w.put("tokenizer.ggml.tokens", GgufValue.ofStrings(tokens));
        w.put("tokenizer.ggml.scores", GgufValue.ofFloats(scores));
        w.put("tokenizer.ggml.token_type", GgufValue.ofInts(types));
        w.putUint32("tokenizer.ggml.unknown_token_id", 0);
        w.putUint32("tokenizer.ggml.bos_token_id", 1);
        w.putUint32("tokenizer.ggml.eos_token_id", 2);

        Random rnd = new Random(s.seed());
        int d = s.embedding(), hs = s.headSize(), q = s.heads() * hs, kv = s.kvHeads() * hs, ff = s.feedForward();
        GgmlType t = s.weightType();
        matrix(w, s, rnd, "token_embd.weight", t, d, s.vocab());
        norm(w, s, rnd, "output_norm.weight", d);
        // Drawn even when tied, so that tied and untied files share every other weight.
        float[] output = gaussian(rnd, (long) d * s.vocab(), 0f, s.weightStd());
        if (!s.tiedOutput()) add(w, s, "output.weight", t, output, d, s.vocab());
        for (int l = 0; l < s.layers(); l++) {
            String p = "blk." + l + ".";
            norm(w, s, rnd, p + "attn_norm.weight", d);
            matrix(w, s, rnd, p + "attn_q.weight", t, d, q);
            matrix(w, s, rnd, p + "attn_k.weight", t, d, kv);
            matrix(w, s, rnd, p + "attn_v.weight", t, d, kv);
            matrix(w, s, rnd, p + "attn_output.weight", t, q, d);
            norm(w, s, rnd, p + "ffn_norm.weight", d);
            matrix(w, s, rnd, p + "ffn_gate.weight", t, d, ff);
            matrix(w, s, rnd, p + "ffn_up.weight", t, d, ff);
            matrix(w, s, rnd, p + "ffn_down.weight", t, ff, d);
        }
        return w;
    }

    private static void matrix(GgufWriter w, Spec s, Random rnd, String name, GgmlType type, long... shape) {
        add(w, s, name, type, gaussian(rnd, shape[0] * shape[1], 0f, s.weightStd()), shape);
    }

    private static void norm(GgufWriter w, Spec s, Random rnd, String name, long n) {
        add(w, s, name, GgmlType.F32, gaussian(rnd, n, 1f, 0.05f), n);
    }

    private static void add(GgufWriter w, Spec s, String name, GgmlType type, float[] values, long... shape) {
        if (s.omitTensors().contains(name)) return;
        long[] actual = s.shapeOverrides().getOrDefault(name, shape);
        long n = Arrays.stream(actual).reduce(1, Math::multiplyExact);
        float[] data = values.length == n
                ? values.clone()
                : Arrays.copyOf(values, Math.toIntExact(n)); // zero-padded if larger
        float scale = s.scales().getOrDefault(name, 1f);
        for (int i = 0; i < data.length; i++) data[i] *= scale;
        w.addTensor(name, type, actual, Quantizer.quantize(type, data));
    }

    private static float[] gaussian(Random rnd, long n, float mean, float std) {
        float[] x = new float[Math.toIntExact(n)];
        for (int i = 0; i < x.length; i++) x[i] = mean + (float) (rnd.nextGaussian() * std);
        return x;
    }
}
