package io.razorstream.engine.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Special token texts found in text, longest match first, as llama.cpp partitions text before tokenizing: user-defined
 * tokens (GGUF token type 4, e.g. runs of spaces in the gpt-neox vocabularies) always; control and unknown tokens (e.g.
 * {@code <s>}, {@code <|im_start|>}) only when the caller asks for it, so a user who types {@code <|im_end|>} gets the
 * characters, not the control token.
 */
final class SpecialTokens {
    private final Vocabulary vocab;
    /**
     * The texts by their first character, longest first: a position is tried only against texts that can start there;
     * {@code always}: the user-defined ones alone, {@code parsing}: those and the control and unknown ones.
     */
    private final Map<Character, List<String>> always = new HashMap<>(), parsing = new HashMap<>();

    SpecialTokens(Vocabulary vocab) {
        this.vocab = vocab;
        for (int i = 0; i < vocab.size(); i++) {
            Vocabulary.TokenType t = vocab.type(i);
            String text = vocab.text(i);
            if (text.isEmpty()) continue;
            if (t == Vocabulary.TokenType.USER_DEFINED)
                always.computeIfAbsent(text.charAt(0), c -> new ArrayList<>()).add(text);
            if (t == Vocabulary.TokenType.USER_DEFINED
                    || t == Vocabulary.TokenType.CONTROL
                    || t == Vocabulary.TokenType.UNKNOWN) {
                parsing.computeIfAbsent(text.charAt(0), c -> new ArrayList<>()).add(text);
            }
        }
        for (List<String> texts : always.values()) texts.sort((a, b) -> b.length() - a.length());
        for (List<String> texts : parsing.values()) texts.sort((a, b) -> b.length() - a.length());
    }

    /** Encodes one stretch of ordinary text; {@code afterSpecial}: it starts the text or follows a special token. */
    interface FragmentEncoder {
        void encode(String fragment, boolean afterSpecial, List<Integer> out);
    }

    /** BOS (if the vocabulary adds it), the segments' fragments and special tokens in order, EOS (likewise). */
    int[] encode(List<Tokenizer.Segment> segments, boolean addSpecial, FragmentEncoder fragments) {
        List<Integer> out = new ArrayList<>();
        if (addSpecial && vocab.addBos()) out.add(vocab.bos());
        boolean[] afterSpecial = {true};
        split(
                segments,
                fragment -> {
                    fragments.encode(fragment, afterSpecial[0], out);
                    afterSpecial[0] = false;
                },
                id -> {
                    out.add(id);
                    afterSpecial[0] = true;
                });
        if (addSpecial && vocab.addEos()) out.add(vocab.eos());
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * As {@link #split(String, boolean, Consumer, IntConsumer)} over several segments, special tokens recognised only
     * in the segments that allow them; ordinary text of adjacent segments is handed on as one stretch (so the tokens
     * are those of the concatenated text). A token with the lstrip or rstrip attribute drops the whitespace run before
     * or after it, across segment boundaries too, as llama.cpp does on the whole prompt.
     */
    void split(List<Tokenizer.Segment> segments, Consumer<String> text, IntConsumer special) {
        StringBuilder pending = new StringBuilder();
        boolean[] stripNext = {false}; // the last special token drops the whitespace that follows it
        for (Tokenizer.Segment seg : segments) {
            split(
                    seg.text(),
                    seg.parseSpecial(),
                    fragment -> {
                        if (stripNext[0]) {
                            fragment = fragment.substring(leadingWhitespace(fragment));
                            stripNext[0] = fragment.isEmpty(); // all whitespace: keep stripping into the next stretch
                        }
                        pending.append(fragment);
                    },
                    id -> {
                        if (vocab.lstrip(id)) pending.setLength(pending.length() - trailingWhitespace(pending));
                        if (!pending.isEmpty()) text.accept(pending.toString());
                        pending.setLength(0);
                        special.accept(id);
                        stripNext[0] = vocab.rstrip(id);
                    });
        }
        if (!pending.isEmpty()) text.accept(pending.toString());
    }

    /**
     * Whitespace as llama.cpp's partitioning strips it: C {@code isspace} on the UTF-8 bytes, that is ASCII space, tab,
     * newline, vertical tab, form feed and carriage return only (not U+00A0 or other Unicode spaces).
     */
    private static boolean isStrippable(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }

    private static int leadingWhitespace(CharSequence s) {
        int n = 0;
        while (n < s.length() && isStrippable(s.charAt(n))) n++;
        return n;
    }

    private static int trailingWhitespace(CharSequence s) {
        int n = 0;
        while (n < s.length() && isStrippable(s.charAt(s.length() - 1 - n))) n++;
        return n;
    }

    /** Hands each stretch of ordinary text to {@code text} and each special token's id to {@code special}, in order. */
    private void split(String s, boolean parseSpecial, Consumer<String> text, IntConsumer special) {
        Map<Character, List<String>> byFirstChar = parseSpecial ? parsing : always;
        int pos = 0;
        while (pos < s.length()) {
            int at = -1;
            String found = null;
            for (int i = pos; !byFirstChar.isEmpty() && i < s.length() && at < 0; i++) {
                for (String t : byFirstChar.getOrDefault(s.charAt(i), List.of())) {
                    if (s.startsWith(t, i)) {
                        at = i;
                        found = t;
                        break;
                    }
                }
            }
            int end = at >= 0 ? at : s.length();
            if (end > pos) text.accept(s.substring(pos, end));
            if (found == null) return;
            special.accept(vocab.id(found));
            pos = at + found.length();
        }
    }
}
