package io.razorstream.engine.bench;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Named shapes of real models, for writing random-weight stand-ins of the same size. */
public enum ModelShape {
    TINYLLAMA_1_1B("tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000f, false),
    LLAMA_3_2_1B("llama-3.2-1b", 2048, 16, 32, 8, 8192, 128256, 131072, 500000f, true),
    TINY("tiny", 256, 2, 8, 4, 768, 512, 512, 10000f, false);

    public final String id;
    public final int embedding, layers, heads, kvHeads, feedForward, vocabulary, context;
    public final float ropeBase;
    public final boolean tiedEmbeddings;

    ModelShape(String id, int embedding, int layers, int heads, int kvHeads, int feedForward, int vocabulary, int context,
               float ropeBase, boolean tiedEmbeddings) {
        this.id = id;
        this.embedding = embedding;
        this.layers = layers;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.feedForward = feedForward;
        this.vocabulary = vocabulary;
        this.context = context;
        this.ropeBase = ropeBase;
        this.tiedEmbeddings = tiedEmbeddings;
    }

    public static ModelShape byId(String id) {
        for (ModelShape s : values()) if (s.id.equals(id.toLowerCase(Locale.ROOT))) return s;
        throw new IllegalArgumentException("unknown shape '" + id + "' (known: " + names() + ")");
    }

    public static String names() {
        return Arrays.stream(values()).map(s -> s.id).collect(Collectors.joining(", "));
    }

    public long parameters() {
        long d = embedding, hs = embedding / heads;
        long perLayer = d * d * 2 + 2 * d * kvHeads * hs + 3 * d * feedForward + 2 * d;
        return layers * perLayer + vocabulary * d * (tiedEmbeddings ? 1 : 2) + d;
    }
}
