package io.razorstream.engine.bench;

import io.razorstream.engine.gguf.GgufWriter;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.KQuants;
import io.razorstream.engine.kernel.Numerics;
import io.razorstream.engine.kernel.Quantizer;
import io.razorstream.engine.model.arch.Architecture;
import io.razorstream.engine.model.arch.Architecture.Feature;
import io.razorstream.engine.model.arch.Family;
import io.razorstream.engine.tokenizer.BpeVocabularyWriter;
import io.razorstream.engine.tokenizer.SpmVocabularyWriter;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Writes a GGUF of a given shape and family with random weights (for benchmarks: same sizes and memory traffic as the
 * real model, gibberish output). Tensors are generated and quantised row by row while they are written, so
 * multi-gigabyte files need little memory.
 */
public final class RandomModel {
    private static final float WEIGHT_SCALE = 0.02f;

    private RandomModel() {}

    public static void write(ModelShape shape, GgmlType type, long seed, Path out) throws IOException {
        write(shape, type, seed, shape.context, out);
    }

    /** As {@link #write(ModelShape, GgmlType, long, Path)}, declaring {@code contextLength} instead of the shape's. */
    public static void write(ModelShape shape, GgmlType type, long seed, int contextLength, Path out)
            throws IOException {
        write(shape, type, seed, contextLength, false, out);
    }

    /**
     * As above; with {@code asLlama}, the shape's sizes as a plain llama model (no family features, no window): the
     * baseline that the family's own layers are measured against.
     */
    public static void write(ModelShape shape, GgmlType type, long seed, int contextLength, boolean asLlama, Path out)
            throws IOException {
        write(shape, type, seed, contextLength, asLlama ? "llama" : shape.architecture, out);
    }

    /**
     * As above, the shape's sizes as the family named {@code architecture} (any registered {@link Family}): its
     * tensors, its {@link Family#randomModelMetadata()}, and the shape's sliding window when the family has windows.
     */
    public static void write(
            ModelShape shape, GgmlType type, long seed, int contextLength, String architecture, Path out)
            throws IOException {
        if (!type.supported()) throw new IllegalArgumentException("unsupported weight type " + type);
        String a = architecture;
        Family registered = Family.named(a);
        if (registered == null)
            throw new IllegalArgumentException(
                    "unknown architecture '" + a + "' (known: " + String.join(", ", Family.names()) + ")");
        Architecture family = registered.architecture();
        int d = shape.embedding,
                hs = shape.headDim,
                q = shape.heads * hs,
                kv = shape.kvHeads * hs,
                ff = shape.feedForward;
        boolean postNorms = family.has(Feature.POST_NORMS),
                qkNorm = family.has(Feature.QK_NORM),
                fused = family.has(Feature.FUSED_PROJECTIONS);
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", a);
        w.putString("general.name", "random " + shape.id + " " + type);
        w.putUint32(a + ".context_length", contextLength);
        w.putUint32(a + ".embedding_length", d);
        w.putUint32(a + ".block_count", shape.layers);
        w.putUint32(a + ".feed_forward_length", ff);
        w.putUint32(a + ".attention.head_count", shape.heads);
        w.putUint32(a + ".attention.head_count_kv", shape.kvHeads);
        w.putUint32(a + ".attention.key_length", hs);
        w.putUint32(a + ".attention.value_length", hs);
        w.putFloat32(a + ".attention.layer_norm_rms_epsilon", postNorms || qkNorm ? 1e-6f : 1e-5f);
        w.putFloat32(a + ".rope.freq_base", shape.ropeBase);
        w.putUint32(a + ".rope.dimension_count", hs);
        if (shape.slidingWindow > 0 && family.slidingWindowPeriod() > 0)
            w.putUint32(a + ".attention.sliding_window", shape.slidingWindow);
        new TreeMap<>(registered.randomModelMetadata()).forEach((key, value) -> w.putFloat32(a + "." + key, value));
        switch (shape.vocab) {
            case SPM -> putVocabulary(w, shape.vocabulary);
            case LLAMA3_BPE ->
                BpeVocabularyWriter.write(w, "llama-bpe", shape.vocabulary, BpeVocabularyWriter.LLAMA3_SPECIALS);
            case QWEN2_BPE ->
                BpeVocabularyWriter.write(w, "qwen2", shape.vocabulary, BpeVocabularyWriter.QWEN_SPECIALS);
        }

        SplittableRandom seeds = new SplittableRandom(seed);
        matrix(w, "token_embd.weight", type, shape.vocabulary, d, seeds.nextLong());
        vector(w, "output_norm.weight", d, seeds.nextLong());
        if (!shape.tiedEmbeddings) matrix(w, "output.weight", type, shape.vocabulary, d, seeds.nextLong());
        for (int l = 0; l < shape.layers; l++) {
            String p = "blk." + l + ".";
            vector(w, p + "attn_norm.weight", d, seeds.nextLong());
            if (fused) {
                matrix(w, p + "attn_qkv.weight", type, q + 2 * kv, d, seeds.nextLong());
            } else {
                matrix(w, p + "attn_q.weight", type, q, d, seeds.nextLong());
                matrix(w, p + "attn_k.weight", type, kv, d, seeds.nextLong());
                matrix(w, p + "attn_v.weight", type, kv, d, seeds.nextLong());
            }
            if (qkNorm) {
                vector(w, p + "attn_q_norm.weight", hs, seeds.nextLong());
                vector(w, p + "attn_k_norm.weight", hs, seeds.nextLong());
            }
            matrix(w, p + "attn_output.weight", type, d, q, seeds.nextLong());
            if (postNorms) vector(w, p + "post_attention_norm.weight", d, seeds.nextLong());
            vector(w, p + "ffn_norm.weight", d, seeds.nextLong());
            if (fused) {
                matrix(w, p + "ffn_up.weight", type, 2 * ff, d, seeds.nextLong());
            } else {
                matrix(w, p + "ffn_gate.weight", type, ff, d, seeds.nextLong());
                matrix(w, p + "ffn_up.weight", type, ff, d, seeds.nextLong());
            }
            matrix(w, p + "ffn_down.weight", type, d, ff, seeds.nextLong());
            if (postNorms) vector(w, p + "post_ffw_norm.weight", d, seeds.nextLong());
        }
        w.write(out);
    }

    /**
     * An SPM vocabulary: specials, byte tokens, the printable characters, then filler pieces with descending scores.
     */
    private static void putVocabulary(GgufWriter w, int size) {
        List<String> pieces = new ArrayList<>();
        for (char c = 33; c < 127 && SpmVocabularyWriter.FIRST_PIECE + pieces.size() < size; c++)
            pieces.add(String.valueOf(c));
        while (SpmVocabularyWriter.FIRST_PIECE + pieces.size() < size) {
            pieces.add("\u2581t" + Integer.toString(SpmVocabularyWriter.FIRST_PIECE + pieces.size(), 36));
        }
        float[] scores = new float[pieces.size()];
        for (int i = 0; i < scores.length; i++) scores[i] = -(SpmVocabularyWriter.FIRST_PIECE + i);
        SpmVocabularyWriter.write(w, pieces, scores);
    }

    private static void matrix(GgufWriter w, String name, GgmlType type, int rows, int cols, long seed) {
        w.addTensor(name, type, new long[] {cols, rows}, out -> {
            SplittableRandom random = new SplittableRandom(seed);
            int rowsPerChunk = Math.max(1, (1 << 20) / cols);
            float[] values = new float[rowsPerChunk * cols];
            ByteBuffer buf = ByteBuffer.allocate((int) type.bytesFor((long) rowsPerChunk * cols))
                    .order(ByteOrder.LITTLE_ENDIAN);
            for (int r = 0; r < rows; r += rowsPerChunk) {
                int n = Math.min(rowsPerChunk, rows - r) * cols;
                // Uniform with the standard deviation WEIGHT_SCALE: cheap, and only the sizes matter here.
                for (int i = 0; i < n; i++)
                    values[i] = (float) ((random.nextDouble() * 2 - 1) * WEIGHT_SCALE * 1.7320508);
                buf.clear();
                if (type.blockSize() == KQuants.QK_K) randomKQuants(type, random, n, buf);
                else Quantizer.quantizeInto(type, values, 0, n, buf);
                buf.flip();
                GgufWriter.writeFully(out, buf);
            }
        });
    }

    /**
     * K-quant blocks of random quants with scales that give weights of about WEIGHT_SCALE (no K-quant quantiser is
     * needed for a random model: random quants are as random as quantised random floats).
     */
    private static void randomKQuants(GgmlType type, SplittableRandom random, int n, ByteBuffer buf) {
        byte[] block = new byte[type.blockBytes()];
        for (int b = 0; b < n / KQuants.QK_K; b++) {
            for (int i = 0; i < block.length; i++) block[i] = (byte) random.nextInt(256);
            ByteBuffer bb = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
            if (type == GgmlType.Q6_K) {
                bb.putShort(208, Numerics.floatToF16(WEIGHT_SCALE / 32 / 64));
            } else {
                bb.putShort(0, Numerics.floatToF16(WEIGHT_SCALE / 8 / 32));
                bb.putShort(2, Numerics.floatToF16(WEIGHT_SCALE / 32));
            }
            buf.put(block);
        }
    }

    private static void vector(GgufWriter w, String name, int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] values = new float[n];
        for (int i = 0; i < n; i++) values[i] = 1f + (float) ((random.nextDouble() * 2 - 1) * 0.05);
        w.addTensor(name, GgmlType.F32, new long[] {n}, Quantizer.quantize(GgmlType.F32, values));
    }
}
