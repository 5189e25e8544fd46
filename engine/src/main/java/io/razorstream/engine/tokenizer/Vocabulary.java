package io.razorstream.engine.tokenizer;

import io.razorstream.engine.gguf.GgufArray;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.gguf.GgufValue;
import io.razorstream.engine.gguf.GgufValueType;

import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * The token table of a GGUF file: texts, scores, types and the special ids with their flags, and which special tokens
 * strip the whitespace beside them (attributes the GGUF does not carry; llama.cpp sets them by model name).
 */
public final class Vocabulary {
    public enum TokenType {
        UNDEFINED,
        NORMAL,
        UNKNOWN,
        CONTROL,
        USER_DEFINED,
        UNUSED,
        BYTE
    }

    /**
     * The GGUF names llama.cpp picks per-token attributes by: {@code general.name}, {@code tokenizer.ggml.pre},
     * {@code general.architecture} (each may be null).
     */
    public record ModelNames(String name, String pre, String architecture) {
        public static final ModelNames NONE = new ModelNames(null, null, null);
    }

    private final String model;
    private final String[] texts;
    private final float[] scores;
    private final TokenType[] types;
    private final Map<String, Integer> ids;
    private final int bos, eos, unk;
    private final boolean addBos, addEos, addSpacePrefix;
    /** Special tokens that drop the whitespace before them (llama.cpp's LSTRIP) and after them (RSTRIP). */
    private final BitSet lstrip = new BitSet(), rstrip = new BitSet();

    public Vocabulary(
            String model,
            String[] texts,
            float[] scores,
            TokenType[] types,
            int bos,
            int eos,
            int unk,
            boolean addBos,
            boolean addEos,
            boolean addSpacePrefix) {
        this(model, texts, scores, types, bos, eos, unk, addBos, addEos, addSpacePrefix, ModelNames.NONE);
    }

    /** As above, with the strip attributes llama.cpp gives the vocabulary of the model so named. */
    public Vocabulary(
            String model,
            String[] texts,
            float[] scores,
            TokenType[] types,
            int bos,
            int eos,
            int unk,
            boolean addBos,
            boolean addEos,
            boolean addSpacePrefix,
            ModelNames names) {
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
        setStripAttributes(names);
    }

    /**
     * llama.cpp's per-model token attributes (llama-vocab.cpp, end of {@code load}), first rule that applies: jina-v2
     * tokenizers (and the nomic-bert-moe, jina-bert-v3 architectures) strip the whitespace before {@code <mask>}; a
     * model named phi-3 strips the whitespace after every special token and {@code </s>}, except {@code <unk>},
     * {@code <s>} and {@code <|endoftext|>}; a model named modern-bert strips it before {@code [MASK]}. llama.cpp
     * refuses to load a phi-3 vocabulary that lacks one of those four tokens; here a missing one is skipped.
     */
    private void setStripAttributes(ModelNames names) {
        String name = names.name() == null ? "" : names.name().toLowerCase(Locale.ROOT);
        if (containsAny(names.pre(), "jina-v2-de", "jina-v2-es", "jina-v2-code")
                || containsAny(names.architecture(), "nomic-bert-moe", "jina-bert-v3")) {
            setIfPresent(lstrip, "<mask>", true);
        } else if (containsAny(name, "phi-3", "phi3")) {
            for (int i = 0; i < texts.length; i++) {
                if (types[i] == TokenType.CONTROL
                        || types[i] == TokenType.USER_DEFINED
                        || types[i] == TokenType.UNKNOWN) rstrip.set(i);
            }
            setIfPresent(rstrip, "</s>", true);
            for (String t : List.of("<unk>", "<s>", "<|endoftext|>")) setIfPresent(rstrip, t, false);
        } else if (containsAny(name, "modern-bert")) {
            setIfPresent(lstrip, "[MASK]", true);
        }
    }

    private static boolean containsAny(String s, String... parts) {
        if (s == null) return false;
        for (String p : parts) if (s.contains(p)) return true;
        return false;
    }

    private void setIfPresent(BitSet flags, String text, boolean value) {
        int id = id(text);
        if (id >= 0) flags.set(id, value);
    }

    public static Vocabulary from(GgufFile gguf) {
        GgufValue modelValue = gguf.get("tokenizer.ggml.model");
        if (modelValue == null)
            throw new GgufFormatException(gguf.path(), "the file has no tokenizer (tokenizer.ggml.model is missing)");
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
            if (s.asArray().size() != n)
                throw new GgufFormatException(
                        gguf.path(),
                        "tokenizer.ggml.scores has " + s.asArray().size() + " entries for " + n + " tokens");
            for (int i = 0; i < n; i++) scores[i] = s.asArray().get(i).asFloat();
        }
        TokenType[] types = new TokenType[n];
        GgufValue t = gguf.get("tokenizer.ggml.token_type");
        if (t != null && t.asArray().size() != n)
            throw new GgufFormatException(
                    gguf.path(),
                    "tokenizer.ggml.token_type has " + t.asArray().size() + " entries for " + n + " tokens");
        for (int i = 0; i < n; i++) {
            int code = t == null ? 1 : t.asArray().get(i).asInt();
            if (code < 0 || code >= TokenType.values().length)
                throw new GgufFormatException(gguf.path(), "token " + i + " has unknown type " + code);
            types[i] = TokenType.values()[code];
        }
        boolean spm = "llama".equals(model);
        ModelNames names = new ModelNames(
                string(gguf, "general.name"), string(gguf, "tokenizer.ggml.pre"), string(gguf, "general.architecture"));
        return new Vocabulary(
                model,
                texts,
                scores,
                types,
                id(gguf, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, n),
                id(gguf, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, n),
                id(gguf, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n),
                flag(gguf, "tokenizer.ggml.add_bos_token", spm),
                flag(gguf, "tokenizer.ggml.add_eos_token", false),
                flag(gguf, "tokenizer.ggml.add_space_prefix", spm),
                names);
    }

    /** A name key's value; one that is not a string is taken as absent (it only picks token attributes). */
    private static String string(GgufFile gguf, String key) {
        GgufValue v = gguf.get(key);
        return v == null || v.type() != GgufValueType.STRING ? null : v.asString();
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

    public String model() {
        return model;
    }

    public int size() {
        return texts.length;
    }

    public String text(int id) {
        return texts[id];
    }

    public float score(int id) {
        return scores[id];
    }

    public TokenType type(int id) {
        return types[id];
    }
    /** The ids of ordinary text tokens (type NORMAL: no control, byte, unknown or user-defined ones), ascending. */
    public int[] ordinaryTokens() {
        return IntStream.range(0, types.length)
                .filter(id -> types[id] == TokenType.NORMAL)
                .toArray();
    }

    public int bos() {
        return bos;
    }

    public int eos() {
        return eos;
    }

    public int unk() {
        return unk;
    }

    public boolean addBos() {
        return addBos && bos >= 0;
    }

    public boolean addEos() {
        return addEos && eos >= 0;
    }

    public boolean addSpacePrefix() {
        return addSpacePrefix;
    }
    /** Whether this special token, found in text, drops the whitespace right before it (llama.cpp's LSTRIP). */
    public boolean lstrip(int id) {
        return lstrip.get(id);
    }
    /** Whether this special token, found in text, drops the whitespace right after it (llama.cpp's RSTRIP). */
    public boolean rstrip(int id) {
        return rstrip.get(id);
    }

    /** The id of a token text, or -1. */
    public int id(String text) {
        Integer id = ids.get(text);
        return id == null ? -1 : id;
    }

    /** Control tokens that end a turn in the common chat formats (llama.cpp treats them as end of generation too). */
    private static final Set<String> END_OF_TURN = Set.of(
            "<|eot_id|>",
            "<|im_end|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "<|end_of_text|>",
            "</s>",
            "<|eom_id|>");

    /**
     * Whether generation should stop at this token: EOS, or a control token that ends a turn (e.g. {@code <|im_end|>}).
     */
    public boolean isEndOfGeneration(int id) {
        return id == eos
                || (id >= 0 && id < types.length && types[id] == TokenType.CONTROL && END_OF_TURN.contains(texts[id]));
    }
}
