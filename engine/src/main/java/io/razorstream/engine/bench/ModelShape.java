package io.razorstream.engine.bench;

import io.razorstream.engine.model.arch.Architecture;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Named shapes of real models, for writing random-weight stand-ins of the same size: the family
 * ({@code general.architecture}), the sizes, the family's tokenizer kind, and for gemma the sliding window.
 */
public enum ModelShape {
    TINYLLAMA_1_1B("tinyllama-1.1b", "llama", 2048, 22, 32, 4, 64, 5632, 32000, 2048, 10000f, false, Vocab.SPM, 0),
    LLAMA_3_2_1B(
            "llama-3.2-1b", "llama", 2048, 16, 32, 8, 64, 8192, 128256, 131072, 500000f, true, Vocab.LLAMA3_BPE, 0),
    QWEN3_0_6B("qwen3-0.6b", "qwen3", 1024, 28, 16, 8, 128, 3072, 151936, 40960, 1000000f, true, Vocab.QWEN2_BPE, 0),
    GEMMA_2_2B("gemma-2-2b", "gemma2", 2304, 26, 8, 4, 256, 9216, 256000, 8192, 10000f, true, Vocab.SPM, 4096),
    GEMMA_3_1B("gemma-3-1b", "gemma3", 1152, 26, 4, 1, 256, 6912, 262144, 32768, 1000000f, true, Vocab.SPM, 512),
    PHI_3_MINI("phi-3-mini", "phi3", 3072, 32, 32, 32, 96, 8192, 32064, 4096, 10000f, false, Vocab.SPM, 0),
    TINY("tiny", "llama", 256, 2, 8, 4, 32, 768, 512, 512, 10000f, false, Vocab.SPM, 0),
    // Tiny members of each family, for tests and quick experiments (gemma's windows of 8 tokens cut early).
    TINY_QWEN3("tiny-qwen3", "qwen3", 256, 2, 8, 4, 32, 512, 512, 512, 1000000f, true, Vocab.SPM, 0),
    TINY_GEMMA2("tiny-gemma2", "gemma2", 256, 2, 8, 4, 32, 512, 512, 512, 10000f, true, Vocab.SPM, 8),
    TINY_GEMMA3("tiny-gemma3", "gemma3", 256, 6, 8, 4, 32, 512, 512, 512, 1000000f, true, Vocab.SPM, 8),
    TINY_PHI3("tiny-phi3", "phi3", 256, 2, 8, 4, 32, 512, 512, 512, 10000f, false, Vocab.SPM, 0);

    /**
     * The tokenizer a family's files carry: SentencePiece, or byte-level BPE with Llama 3's or Qwen's pre-tokenizer and
     * specials.
     */
    public enum Vocab {
        SPM,
        LLAMA3_BPE,
        QWEN2_BPE
    }

    public final String id, architecture;
    public final int embedding, layers, heads, kvHeads, headDim, feedForward, vocabulary, context;
    public final float ropeBase;
    public final boolean tiedEmbeddings;
    public final Vocab vocab;
    /** The sliding window of the family's local layers (gemma), 0 for none. */
    public final int slidingWindow;

    ModelShape(
            String id,
            String architecture,
            int embedding,
            int layers,
            int heads,
            int kvHeads,
            int headDim,
            int feedForward,
            int vocabulary,
            int context,
            float ropeBase,
            boolean tiedEmbeddings,
            Vocab vocab,
            int slidingWindow) {
        this.id = id;
        this.architecture = architecture;
        this.embedding = embedding;
        this.layers = layers;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.feedForward = feedForward;
        this.vocabulary = vocabulary;
        this.context = context;
        this.ropeBase = ropeBase;
        this.tiedEmbeddings = tiedEmbeddings;
        this.vocab = vocab;
        this.slidingWindow = slidingWindow;
    }

    public static ModelShape byId(String id) {
        for (ModelShape s : values()) if (s.id.equals(id.toLowerCase(Locale.ROOT))) return s;
        throw new IllegalArgumentException("unknown shape '" + id + "' (known: " + names() + ")");
    }

    public static String names() {
        return Arrays.stream(values()).map(s -> s.id).collect(Collectors.joining(", "));
    }

    public long parameters() {
        long d = embedding, q = (long) heads * headDim, kv = (long) kvHeads * headDim;
        long perLayer = 2 * d * q + 2 * d * kv + 3 * d * feedForward + 2 * d;
        Architecture family = Architecture.named(architecture);
        if (family.has(Architecture.Feature.POST_NORMS)) perLayer += 2 * d;
        if (family.has(Architecture.Feature.QK_NORM)) perLayer += 2L * headDim;
        return layers * perLayer + vocabulary * d * (tiedEmbeddings ? 1 : 2) + d;
    }
}
