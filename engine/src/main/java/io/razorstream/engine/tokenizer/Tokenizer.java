package io.razorstream.engine.tokenizer;

import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;

import java.util.ArrayList;
import java.util.List;

/** Text to token ids and token ids to bytes, for one model's vocabulary. */
public interface Tokenizer {

    /**
     * Tokenises {@code text}. With {@code addSpecial}, BOS/EOS are added as the model's GGUF says; with
     * {@code parseSpecial}, control-token texts inside {@code text} (e.g. {@code <s>}) become those tokens.
     */
    default int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        return encode(List.of(new Segment(text, parseSpecial)), addSpecial);
    }

    /**
     * Tokenises the concatenation of {@code segments}, control-token texts becoming control tokens only inside segments
     * that allow it: a chat template's markup does, the user's content does not.
     */
    int[] encode(List<Segment> segments, boolean addSpecial);

    /** A piece of text to tokenise, and whether control-token texts in it are control tokens. */
    record Segment(String text, boolean parseSpecial) {}

    /** The bytes a token stands for when printed (control and unknown tokens print as nothing). */
    byte[] piece(int token);

    Vocabulary vocabulary();

    static Tokenizer from(GgufFile gguf) {
        Vocabulary v = Vocabulary.from(gguf);
        return switch (v.model()) {
            case "llama" -> new SpmTokenizer(v);
            case "gpt2" -> {
                var merges = gguf.get("tokenizer.ggml.merges");
                if (merges == null)
                    throw new GgufFormatException(gguf.path(), "BPE tokenizer without tokenizer.ggml.merges");
                List<String> list = new ArrayList<>(merges.asArray().size());
                for (int i = 0; i < merges.asArray().size(); i++)
                    list.add(merges.asArray().get(i).asString());
                var pre = gguf.get("tokenizer.ggml.pre");
                try {
                    yield new BpeTokenizer(v, list, pre == null ? null : pre.asString());
                } catch (IllegalArgumentException e) {
                    throw new GgufFormatException(gguf.path(), e.getMessage());
                }
            }
            default ->
                throw new GgufFormatException(
                        gguf.path(), "unsupported tokenizer model '" + v.model() + "' (supported: llama, gpt2)");
        };
    }
}
