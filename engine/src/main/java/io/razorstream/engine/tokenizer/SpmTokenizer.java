package io.razorstream.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * SentencePiece-style tokenizer ({@code tokenizer.ggml.model = llama}) as llama.cpp runs it: spaces become U+2581 (with
 * one prepended when the vocabulary says so), the text is split into UTF-8 characters, and adjacent symbols are merged
 * while the merged text is a token, highest score first (leftmost on ties). Symbols that are not tokens are split back
 * along their merges, and characters with no token fall back to {@code <0xXX>} byte tokens.
 */
public final class SpmTokenizer implements Tokenizer {
    private static final String SPACE = "\u2581";

    private final Vocabulary vocab;
    private final SpecialTokens specials;
    private final int[] byteTokens = new int[256];

    public SpmTokenizer(Vocabulary vocab) {
        this.vocab = vocab;
        this.specials = new SpecialTokens(vocab);
        for (int b = 0; b < 256; b++) {
            int id = vocab.id(String.format("<0x%02X>", b));
            if (id < 0 && b < 128) id = vocab.id(String.valueOf((char) b));
            byteTokens[b] = id >= 0 ? id : vocab.unk();
        }
    }

    @Override
    public Vocabulary vocabulary() {
        return vocab;
    }

    @Override
    public int[] encode(List<Segment> segments, boolean addSpecial) {
        // A space prefix goes before the first text fragment and after special tokens.
        return specials.encode(
                segments,
                addSpecial,
                (fragment, afterSpecial, out) -> encodeFragment(
                        (vocab.addSpacePrefix() && afterSpecial ? " " + fragment : fragment).replace(" ", SPACE), out));
    }

    /** One symbol: a byte range of the fragment, linked to its neighbours; n == 0 once merged away. */
    private static final class Symbol {
        int start, n, prev, next;
    }

    private record Bigram(int left, int right, float score, int size) {}

    private void encodeFragment(String fragment, List<Integer> out) {
        byte[] bytes = fragment.getBytes(StandardCharsets.UTF_8);
        List<Symbol> symbols = new ArrayList<>();
        for (int offs = 0; offs < bytes.length; ) {
            Symbol s = new Symbol();
            s.start = offs;
            s.n = Math.min(bytes.length - offs, utf8Length(bytes[offs]));
            offs += s.n;
            s.prev = symbols.size() - 1;
            s.next = offs == bytes.length ? -1 : symbols.size() + 1;
            symbols.add(s);
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>(
                (a, b) -> a.score != b.score ? Float.compare(b.score, a.score) : Integer.compare(a.left, b.left));
        Map<String, int[]> reverseMerges = new HashMap<>();
        for (int i = 1; i < symbols.size(); i++) addBigram(bytes, symbols, i - 1, i, queue, reverseMerges);
        while (!queue.isEmpty()) {
            Bigram bg = queue.poll();
            Symbol left = symbols.get(bg.left), right = symbols.get(bg.right);
            if (left.n == 0 || right.n == 0 || left.n + right.n != bg.size) continue; // stale
            left.n += right.n;
            right.n = 0;
            left.next = right.next;
            if (right.next >= 0) symbols.get(right.next).prev = bg.left;
            addBigram(bytes, symbols, left.prev, bg.left, queue, reverseMerges);
            addBigram(bytes, symbols, bg.left, left.next, queue, reverseMerges);
        }
        for (int i = symbols.isEmpty() ? -1 : 0; i != -1; i = symbols.get(i).next) {
            resegment(bytes, symbols, symbols.get(i), reverseMerges, out);
        }
    }

    private void addBigram(
            byte[] bytes,
            List<Symbol> symbols,
            int left,
            int right,
            PriorityQueue<Bigram> queue,
            Map<String, int[]> reverseMerges) {
        if (left == -1 || right == -1) return;
        Symbol l = symbols.get(left), r = symbols.get(right);
        String text = new String(bytes, l.start, l.n + r.n, StandardCharsets.UTF_8);
        int id = vocab.id(text);
        if (id < 0) return;
        queue.add(new Bigram(left, right, vocab.score(id), l.n + r.n));
        reverseMerges.put(text, new int[] {left, right});
    }

    private void resegment(
            byte[] bytes, List<Symbol> symbols, Symbol s, Map<String, int[]> reverseMerges, List<Integer> out) {
        String text = new String(bytes, s.start, s.n, StandardCharsets.UTF_8);
        int id = vocab.id(text);
        if (id >= 0) {
            out.add(id);
            return;
        }
        int[] merge = reverseMerges.get(text);
        if (merge == null) {
            for (int j = 0; j < s.n; j++) out.add(byteTokens[bytes[s.start + j] & 0xFF]);
            return;
        }
        resegment(bytes, symbols, symbols.get(merge[0]), reverseMerges, out);
        resegment(bytes, symbols, symbols.get(merge[1]), reverseMerges, out);
    }

    /** Length of a UTF-8 sequence from its first byte (continuation bytes count as 1, as in llama.cpp). */
    static int utf8Length(byte first) {
        int hi = (first & 0xFF) >>> 4;
        return hi < 12 ? 1 : hi < 14 ? 2 : hi == 14 ? 3 : 4;
    }

    @Override
    public byte[] piece(int token) {
        return switch (vocab.type(token)) {
            case NORMAL, USER_DEFINED, UNDEFINED, UNUSED ->
                vocab.text(token).replace(SPACE, " ").getBytes(StandardCharsets.UTF_8);
            case BYTE -> new byte[] {(byte) Integer.parseInt(vocab.text(token).substring(3, 5), 16)};
            case CONTROL, UNKNOWN -> new byte[0];
        };
    }
}
