package io.razorstream.engine.tokenizer;

import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;

/** Text to token ids and token ids to bytes, for one model's vocabulary. */
public interface Tokenizer {

    /**
     * Tokenises {@code text}. With {@code addSpecial}, BOS/EOS are added as the model's GGUF says; with
     * {@code parseSpecial}, control-token texts inside {@code text} (e.g. {@code <s>}) become those tokens.
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /** The bytes a token stands for when printed (control and unknown tokens print as nothing). */
    byte[] piece(int token);

    Vocabulary vocabulary();

    static Tokenizer from(GgufFile gguf) {
        Vocabulary v = Vocabulary.from(gguf);
        return switch (v.model()) {
            case "llama" -> new SpmTokenizer(v);
            default -> throw new GgufFormatException(gguf.path(), "unsupported tokenizer model '" + v.model() + "' (supported: llama)");
        };
    }
}
