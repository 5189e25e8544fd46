package io.razorstream.engine.tokenizer;

import io.razorstream.engine.gguf.GgufValue;
import io.razorstream.engine.gguf.GgufWriter;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Writes a byte-level BPE ({@code gpt2}) vocabulary of a given size for the random stand-ins of BPE families (Llama 3,
 * Qwen): the 256 byte-characters, merges of ASCII letter pairs (so text tokenises into more than bytes), unreachable
 * filler tokens, and the family's control tokens at the ids the real vocabularies give them, with a chat template that
 * names the family's markers.
 */
public final class BpeVocabularyWriter {
    /**
     * A family's control tokens, from {@code firstId} on, and its BOS/EOS, whether BOS is added, and a chat template.
     */
    public record Specials(
            int firstId, List<String> tokens, String bos, String eos, boolean addBos, String chatTemplate) {}

    /**
     * Llama 3: 256 specials from 128000 (begin/end of text, headers, eot; the rest reserved), eos = eot as in the
     * instruct files.
     */
    public static final Specials LLAMA3_SPECIALS = new Specials(
            128000,
            llama3Specials(),
            "<|begin_of_text|>",
            "<|eot_id|>",
            true,
            "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
                    + "{{ m.content | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
                    + "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}");
    /** Qwen 2/3: specials from 151643 (end of text, im_start/im_end, think), no BOS added, eos = im_end. */
    public static final Specials QWEN_SPECIALS = new Specials(
            151643,
            List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"),
            null,
            "<|im_end|>",
            false,
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                    + "{% if add_generation_prompt %}<|im_start|>assistant\n{% if enable_thinking is defined and "
                    + "enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}");

    private BpeVocabularyWriter() {}

    private static List<String> llama3Specials() {
        List<String> s = new ArrayList<>(List.of(
                "<|begin_of_text|>",
                "<|end_of_text|>",
                "<|reserved_special_token_0|>",
                "<|reserved_special_token_1|>",
                "<|finetune_right_pad_id|>",
                "<|reserved_special_token_2|>",
                "<|start_header_id|>",
                "<|end_header_id|>",
                "<|eom_id|>",
                "<|eot_id|>"));
        for (int i = 3; s.size() < 256; i++) s.add("<|reserved_special_token_" + i + "|>");
        return s;
    }

    public static void write(GgufWriter w, String pre, int size, Specials specials) {
        if (specials.firstId() + specials.tokens().size() > size)
            throw new IllegalArgumentException("a vocabulary of " + size + " has no room for the specials");
        List<String> tokens = new ArrayList<>(size);
        List<String> merges = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(BpeTokenizer.byteCharacter(b));
        String space = BpeTokenizer.byteCharacter(' ');
        for (char x = 'a'; x <= 'z'; x++) {
            merges.add(space + " " + x);
            tokens.add(space + x);
            for (char y = 'a'; y <= 'z'; y++) {
                merges.add(x + " " + y);
                tokens.add("" + x + y);
            }
        }
        while (tokens.size() < specials.firstId())
            tokens.add(space + "w" + Integer.toString(tokens.size(), 36)); // never produced: no merge makes it
        int[] types = new int[size];
        Arrays.fill(types, Vocabulary.TokenType.NORMAL.ordinal());
        for (String s : specials.tokens()) {
            types[tokens.size()] = Vocabulary.TokenType.CONTROL.ordinal();
            tokens.add(s);
        }
        while (tokens.size() < size) tokens.add(space + "w" + Integer.toString(tokens.size(), 36));
        w.put("tokenizer.ggml.model", GgufValue.ofString("gpt2"));
        w.put("tokenizer.ggml.pre", GgufValue.ofString(pre));
        w.put("tokenizer.ggml.tokens", GgufValue.ofStrings(tokens));
        w.put("tokenizer.ggml.token_type", GgufValue.ofInts(types));
        w.put("tokenizer.ggml.merges", GgufValue.ofStrings(merges));
        if (specials.bos() != null) w.putUint32("tokenizer.ggml.bos_token_id", tokens.indexOf(specials.bos()));
        w.putUint32("tokenizer.ggml.eos_token_id", tokens.indexOf(specials.eos()));
        w.putBool("tokenizer.ggml.add_bos_token", specials.addBos());
        w.put("tokenizer.chat_template", GgufValue.ofString(specials.chatTemplate()));
    }
}
