package io.razorstream.engine.tokenizer;

import io.razorstream.engine.gguf.GgufValue;
import io.razorstream.engine.gguf.GgufWriter;

import java.util.ArrayList;
import java.util.List;

/** Writes an SPM ({@code llama}) vocabulary for models the project builds itself (random and constructed ones). */
public final class SpmVocabularyWriter {
    /** Id of the first piece: after {@code <unk>}, {@code <s>}, {@code </s>} and the 256 byte tokens. */
    public static final int FIRST_PIECE = 3 + 256;

    private SpmVocabularyWriter() {}

    /**
     * {@code <unk>} (0), {@code <s>} (1, BOS), {@code </s>} (2, EOS), the byte tokens {@code <0x00>..<0xFF>} (which
     * llama.cpp needs for byte fallback), then {@code pieces} as normal tokens with {@code scores}.
     */
    public static void write(GgufWriter w, List<String> pieces, float[] scores) {
        if (scores.length != pieces.size()) throw new IllegalArgumentException("one score per piece");
        int n = FIRST_PIECE + pieces.size();
        List<String> tokens = new ArrayList<>(n);
        int[] types = new int[n];
        float[] allScores = new float[n];
        tokens.add("<unk>");
        types[0] = Vocabulary.TokenType.UNKNOWN.ordinal();
        tokens.add("<s>");
        types[1] = Vocabulary.TokenType.CONTROL.ordinal();
        tokens.add("</s>");
        types[2] = Vocabulary.TokenType.CONTROL.ordinal();
        for (int b = 0; b < 256; b++) {
            types[tokens.size()] = Vocabulary.TokenType.BYTE.ordinal();
            tokens.add(String.format("<0x%02X>", b));
        }
        for (int i = 0; i < pieces.size(); i++) {
            types[tokens.size()] = Vocabulary.TokenType.NORMAL.ordinal();
            allScores[tokens.size()] = scores[i];
            tokens.add(pieces.get(i));
        }
        w.put("tokenizer.ggml.model", GgufValue.ofString("llama"));
        w.put("tokenizer.ggml.tokens", GgufValue.ofStrings(tokens));
        w.put("tokenizer.ggml.scores", GgufValue.ofFloats(allScores));
        w.put("tokenizer.ggml.token_type", GgufValue.ofInts(types));
        w.putUint32("tokenizer.ggml.bos_token_id", 1);
        w.putUint32("tokenizer.ggml.eos_token_id", 2);
        w.putUint32("tokenizer.ggml.unknown_token_id", 0);
    }
}
