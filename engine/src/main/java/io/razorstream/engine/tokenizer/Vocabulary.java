package io.razorstream.engine.tokenizer;

import io.razorstream.engine.gguf.GgufArray;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.gguf.GgufValue;

import java.util.HashMap;
import java.util.Map;

/** The token table of a GGUF file: texts, scores, types and the special ids with their flags. */
public final class Vocabulary {
    public enum TokenType { UNDEFINED, NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE }

    private final String model;
    private final String[] texts;
    private final float[] scores;
    private final TokenType[] types;
    private final Map<String, Integer> ids;
    private final int bos, eos, unk;
    private final boolean addBos, addEos, addSpacePrefix;

    public Vocabulary(String model, String[] texts, float[] scores, TokenType[] types, int bos, int eos, int unk,
                      boolean addBos, boolean addEos, boolean addSpacePrefix) {
        this.model = model;
        this.texts = texts;
        this.scores = scores;
        this.types = types;
        this.bos = bos;
        this.eos = eos;
        this.unk = unk;
        this.addBos = addBos;
        this.addEos = addEos;
        this.addSpacePrefix = addSpacePrefix;
        this.ids = new HashMap<>(texts.length * 2);
        for (int i = 0; i < texts.length; i++) ids.putIfAbsent(texts[i], i);
    }

    public static Vocabulary from(GgufFile gguf) {
        GgufValue modelValue = gguf.get("tokenizer.ggml.model");
        if (modelValue == null) throw new GgufFormatException(gguf.path(), "the file has no tokenizer (tokenizer.ggml.model is missing)");
        String model = modelValue.asString();
        GgufValue tokensValue = gguf.get("tokenizer.ggml.tokens");
        if (tokensValue == null) throw new GgufFormatException(gguf.path(), "tokenizer.ggml.tokens is missing");
        GgufArray tokens = tokensValue.asArray();
        int n = tokens.size();
        String[] texts = new String[n];
        for (int i = 0; i < n; i++) texts[i] = tokens.get(i).asString();
        float[] scores = new float[n];
        GgufValue s = gguf.get("tokenizer.ggml.scores");
        if (s != null) {
            if (s.asArray().size() != n) throw new GgufFormatException(gguf.path(), "tokenizer.ggml.scores has " + s.asArray().size() + " entries for " + n + " tokens");
            for (int i = 0; i < n; i++) scores[i] = s.asArray().get(i).asFloat();
        }
        TokenType[] types = new TokenType[n];
        GgufValue t = gguf.get("tokenizer.ggml.token_type");
        if (t != null && t.asArray().size() != n) throw new GgufFormatException(gguf.path(), "tokenizer.ggml.token_type has " + t.asArray().size() + " entries for " + n + " tokens");
        for (int i = 0; i < n; i++) {
            int code = t == null ? 1 : t.asArray().get(i).asInt();
            if (code < 0 || code >= TokenType.values().length) throw new GgufFormatException(gguf.path(), "token " + i + " has unknown type " + code);
            types[i] = TokenType.values()[code];
        }
        boolean spm = "llama".equals(model);
        return new Vocabulary(model, texts, scores, types,
                id(gguf, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, n),
                id(gguf, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, n),
                id(gguf, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n),
                flag(gguf, "tokenizer.ggml.add_bos_token", spm),
                flag(gguf, "tokenizer.ggml.add_eos_token", false),
                flag(gguf, "tokenizer.ggml.add_space_prefix", spm));
    }

    private static int id(GgufFile gguf, String key, int fallback, int n) {
        GgufValue v = gguf.get(key);
        if (v == null) return fallback;
        long id = v.asLong();
        return id >= 0 && id < n ? (int) id : -1; // 0xFFFFFFFF and the like mean "none"
    }

    private static boolean flag(GgufFile gguf, String key, boolean fallback) {
        GgufValue v = gguf.get(key);
        return v == null ? fallback : v.asBoolean();
    }

    public String model() { return model; }
    public int size() { return texts.length; }
    public String text(int id) { return texts[id]; }
    public float score(int id) { return scores[id]; }
    public TokenType type(int id) { return types[id]; }
    public int bos() { return bos; }
    public int eos() { return eos; }
    public int unk() { return unk; }
    public boolean addBos() { return addBos && bos >= 0; }
    public boolean addEos() { return addEos && eos >= 0; }
    public boolean addSpacePrefix() { return addSpacePrefix; }

    /** The id of a token text, or -1. */
    public int id(String text) {
        Integer id = ids.get(text);
        return id == null ? -1 : id;
    }

    /** Control tokens that end a turn in the common chat formats (llama.cpp treats them as end of generation too). */
    private static final java.util.Set<String> END_OF_TURN = java.util.Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
            "<|endoftext|>", "<|end_of_text|>", "</s>", "<|eom_id|>");

    /** Whether generation should stop at this token: EOS, or a control token that ends a turn (e.g. {@code <|im_end|>}). */
    public boolean isEndOfGeneration(int id) {
        return id == eos || (id >= 0 && id < types.length && types[id] == TokenType.CONTROL && END_OF_TURN.contains(texts[id]));
    }
}
