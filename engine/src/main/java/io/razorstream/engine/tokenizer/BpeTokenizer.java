package io.razorstream.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte-level BPE ({@code tokenizer.ggml.model = gpt2}): text is split into words by the pre-tokenizer
 * that {@code tokenizer.ggml.pre} names, each word's UTF-8 bytes are mapped to GPT-2's printable
 * byte-characters, and adjacent symbols are merged by merge rank (lowest first) until no ranked pair is
 * left. Text between regex matches is a word of its own, as in llama.cpp.
 */
public final class BpeTokenizer implements Tokenizer {
    private static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

    /**
     * Pre-tokenizer splits by {@code tokenizer.ggml.pre} (llama.cpp's expressions). Where there are several,
     * they apply in turn: each splits the pieces the previous one produced.
     */
    static final Map<String, List<String>> PRE = Map.of(
            // llama.cpp's rules when tokenizer.ggml.pre is missing or "default": punctuation runs, GPT-2's rule, digit runs, 3-digit groups
            "default", List.of("[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"),
            "falcon", List.of("[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"),
            // newlines alone, letter runs, punctuation runs (each with one leading space), CJK runs, single digits
            "deepseek-coder", List.of("[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\u4E00-\\u9FA5\\u0800-\\u4E00\\uAC00-\\uD7FF]+", "\\p{N}"),
            "gpt-2", List.of(GPT2),
            "smollm", List.of("\\p{N}", GPT2),
            "llama-bpe", List.of("(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
                    + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
            "qwen2", List.of("(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
                    + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"));
    /** Other names llama.cpp gives the same splits. */
    static final Map<String, String> ALIASES = Map.of("gpt2", "gpt-2", "llama3", "llama-bpe", "llama-v3", "llama-bpe",
            "smaug-bpe", "llama-bpe", "deepseek-r1-qwen", "qwen2", "olmo", "gpt-2", "mpt", "gpt-2", "starcoder", "smollm", "refact", "smollm");

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final Map<Character, Byte> CHAR_TO_BYTE = new HashMap<>();

    static {
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_TO_CHAR[b] = printable ? (char) b : (char) (256 + n++);
            CHAR_TO_BYTE.put(BYTE_TO_CHAR[b], (byte) b);
        }
    }

    private final Vocabulary vocab;
    private final Map<String, Integer> ranks;
    private final List<Pattern> pre;
    private final SpecialTokens specials;

    /**
     * @param merges "left right" pairs, in rank order
     * @param preName {@code tokenizer.ggml.pre} (null: llama.cpp's default rules)
     */
    public BpeTokenizer(Vocabulary vocab, List<String> merges, String preName) {
        this.vocab = vocab;
        this.ranks = new HashMap<>(merges.size() * 2);
        for (int i = 0; i < merges.size(); i++) ranks.putIfAbsent(merges.get(i), i);
        String name = preName == null ? "default" : ALIASES.getOrDefault(preName, preName);
        List<String> regexes = PRE.get(name);
        if (regexes == null) {
            throw new IllegalArgumentException("unsupported BPE pre-tokenizer '" + preName + "' (supported: " + String.join(", ", new java.util.TreeSet<>(PRE.keySet()))
                    + " and their aliases " + new java.util.TreeSet<>(ALIASES.keySet()) + ")");
        }
        this.pre = regexes.stream().map(r -> Pattern.compile(r, Pattern.UNICODE_CHARACTER_CLASS)).toList();
        this.specials = new SpecialTokens(vocab);
    }

    @Override
    public Vocabulary vocabulary() {
        return vocab;
    }

    @Override
    public int[] encode(List<Segment> segments, boolean addSpecial) {
        return specials.encode(segments, addSpecial, (fragment, afterSpecial, out) -> {
            for (String w : words(fragment)) word(w, out);
        });
    }

    /** The pre-tokenizer's words of {@code fragment}: each regex's matches and the text between them, regex after regex. */
    List<String> words(String fragment) {
        List<String> words = List.of(fragment);
        for (Pattern p : pre) {
            List<String> next = new ArrayList<>();
            for (String w : words) next.addAll(split(p, w));
            words = next;
        }
        return words;
    }

    private static List<String> split(Pattern pattern, String fragment) {
        List<String> words = new ArrayList<>();
        Matcher m = pattern.matcher(fragment);
        int at = 0;
        while (m.find()) {
            if (m.start() > at) words.add(fragment.substring(at, m.start()));
            if (m.end() > m.start()) words.add(m.group());
            at = m.end();
        }
        if (at < fragment.length()) words.add(fragment.substring(at));
        return words;
    }

    private record Pair(int rank, int left, int right, String leftText, String rightText) {}

    /** BPE on one word: symbols are the byte-characters, merged by rank (ties: leftmost first). */
    private void word(String w, List<Integer> out) {
        byte[] bytes = w.getBytes(StandardCharsets.UTF_8);
        int n = bytes.length;
        String[] sym = new String[n];
        int[] prev = new int[n], next = new int[n];
        for (int i = 0; i < n; i++) {
            sym[i] = String.valueOf(BYTE_TO_CHAR[bytes[i] & 0xFF]);
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Pair> queue = new PriorityQueue<>((a, b) -> a.rank != b.rank ? Integer.compare(a.rank, b.rank) : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) offer(queue, sym, i, i + 1);
        while (!queue.isEmpty()) {
            Pair p = queue.poll();
            int l = p.left, r = p.right;
            // stale when either side has been merged since the pair was queued
            if (sym[l] == null || sym[r] == null || next[l] != r || !sym[l].equals(p.leftText) || !sym[r].equals(p.rightText)) continue;
            sym[l] = sym[l] + sym[r];
            sym[r] = null;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            if (prev[l] >= 0) offer(queue, sym, prev[l], l);
            if (next[l] >= 0) offer(queue, sym, l, next[l]);
        }
        for (int i = 0; i >= 0 && i < n; i = next[i]) {
            int id = vocab.id(sym[i]);
            if (id >= 0) {
                out.add(id);
                continue;
            }
            for (char c : sym[i].toCharArray()) { // not in the vocabulary: one token per byte-character
                int b = vocab.id(String.valueOf(c));
                out.add(b >= 0 ? b : vocab.unk());
            }
        }
    }

    private void offer(PriorityQueue<Pair> queue, String[] sym, int l, int r) {
        Integer rank = ranks.get(sym[l] + " " + sym[r]);
        if (rank != null) queue.add(new Pair(rank, l, r, sym[l], sym[r]));
    }

    @Override
    public byte[] piece(int token) {
        return switch (vocab.type(token)) {
            case CONTROL, UNKNOWN -> new byte[0];
            case USER_DEFINED -> vocab.text(token).getBytes(StandardCharsets.UTF_8);
            default -> decode(vocab.text(token));
        };
    }

    private static byte[] decode(String text) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(text.length());
        for (char c : text.toCharArray()) {
            Byte b = CHAR_TO_BYTE.get(c);
            if (b != null) out.write(b);
            else out.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }
}
