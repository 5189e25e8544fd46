package io.razorstream.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte-level BPE ({@code tokenizer.ggml.model = gpt2}): text is split into words by the pre-tokenizer that
 * {@code tokenizer.ggml.pre} names, each word's UTF-8 bytes are mapped to GPT-2's printable byte-characters, and
 * adjacent symbols are merged by merge rank (lowest first) until no ranked pair is left. Text between regex matches is
 * a word of its own, as in llama.cpp.
 */
public final class BpeTokenizer implements Tokenizer {
    private static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

    /**
     * A pre-tokenizer: its expressions, applied in turn (each splits the pieces the previous one produced), and whether
     * a word that is itself a token is taken whole before any merge (llama.cpp's ignore_merges).
     */
    record Rules(List<String> regexes, boolean ignoreMerges) {
        static Rules of(String... regexes) {
            return new Rules(List.of(regexes), false);
        }
    }

    private static final String CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    /**
     * Llama 3's expression (cl100k's): contractions, letter runs, 3-digit groups, punctuation runs, newline and space
     * runs.
     */
    private static final String LLAMA3 = CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /**
     * An upper-case-like letter run then a lower-case-like one, as llama.cpp rewrites \\p{Lu}.. / \\p{Ll}.. classes
     * (any letter not a-z / not A-Z).
     */
    private static final String UPPER = "((?=[\\p{L}])([^a-z]))", LOWER = "((?=[\\p{L}])([^A-Z]))";
    /** deepseek-llm's letter class: the cased letters, as its tokenizer.json lists them. */
    private static final String DEEPSEEK_LETTERS = "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}"
            + "\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}" + "-\\x{373}"
            + "\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}"
            + "-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}" + "-\\x{481}\\x{48A}-\\x{52F}"
            + "\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"
            + "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}" + "\\x{1D00}-\\x{1D2B}"
            + "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
            + "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}" + "\\x{1F50}-\\x{1F57}"
            + "\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}"
            + "-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}" + "\\x{1FC6}-\\x{1FCC}"
            + "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"
            + "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}" + "\\x{210A}-\\x{2113}"
            + "\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
            + "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}" + "-\\x{213F}"
            + "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}"
            + "-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}" + "\\x{2CF3}"
            + "\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
            + "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}" + "\\x{FB00}-\\x{FB06}"
            + "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}"
            + "\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}" + "-\\x{104FB}"
            + "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}";
    /**
     * \\p{S} as llama.cpp's regex path has it: its ASCII symbol class is $+<=>^`| (unicode.cpp), without '~', which is
     * therefore neither punctuation nor symbol there (verified against llama-tokenize on a deepseek-v3 vocabulary).
     */
    private static final String SYMBOL = "[\\p{S}&&[^~]]";

    private static final String CJK = "\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}";

    /** Pre-tokenizer rules by {@code tokenizer.ggml.pre}: llama.cpp's expressions (llama-vocab.cpp) for each name. */
    static final Map<String, Rules> PRE = Map.ofEntries(
            // llama.cpp's rules when tokenizer.ggml.pre is missing or "default": punctuation runs, GPT-2's rule, digit
            // runs, 3-digit groups
            Map.entry("default", Rules.of("[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]")),
            Map.entry("falcon", Rules.of("[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]")),
            // newlines alone, letter runs, punctuation runs (each with one leading space), CJK runs, single digits
            Map.entry("deepseek-coder", Rules.of("[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[" + CJK + "]+", "\\p{N}")),
            // newlines alone, cased-letter runs, ASCII/full-width punctuation runs, trailing spaces, CJK runs, digit
            // runs
            Map.entry(
                    "deepseek-llm",
                    Rules.of(
                            "[\\r\\n]",
                            "\\s?[" + DEEPSEEK_LETTERS + "]+",
                            "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
                            "\\s+\\z",
                            "[" + CJK + "]+",
                            "\\p{N}+")),
            // 3-digit groups, CJK and kana runs, then a GPT-4-like rule over letters+marks and punctuation+symbols
            Map.entry(
                    "deepseek-v3",
                    Rules.of(
                            "\\p{N}{1,3}",
                            "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
                            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}" + SYMBOL
                                    + "]?[\\p{L}\\p{M}]+| ?[\\p{P}" + SYMBOL + "]+[\\r\\n]*"
                                    + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")),
            Map.entry("gpt-2", Rules.of(GPT2)),
            // single digits, then GPT-2's rule (starcoder, refact, command-r, smollm, codeshell, exaone, minerva)
            Map.entry("smollm", Rules.of("\\p{N}", GPT2)),
            Map.entry("llama-bpe", new Rules(List.of(LLAMA3), true)),
            // chatglm-bpe: llama 3's expression without ignore_merges
            Map.entry("chatglm-bpe", Rules.of(LLAMA3)),
            Map.entry(
                    "qwen2",
                    Rules.of(CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
                            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")),
            // Mistral's tekken: case-split letter runs, single digits, punctuation runs that may end in newlines or '/'
            Map.entry(
                    "tekken",
                    new Rules(
                            List.of("[^\\r\\n\\p{L}\\p{N}]?" + UPPER + "*" + LOWER + "+|[^\\r\\n\\p{L}\\p{N}]?" + UPPER
                                    + "+" + LOWER + "*"
                                    + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
                            true)),
            // o200k (gpt-4o, llama4): tekken's case split with contractions after the run, 3-digit groups
            Map.entry(
                    "gpt-4o",
                    Rules.of("[^\\r\\n\\p{L}\\p{N}]?" + UPPER + "*" + LOWER + "+" + CONTRACTIONS
                            + "?|[^\\r\\n\\p{L}\\p{N}]?" + UPPER + "+" + LOWER + "*" + CONTRACTIONS
                            + "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")));
    /** Other names llama.cpp gives the same rules. */
    static final Map<String, String> ALIASES = Map.ofEntries(
            Map.entry("gpt2", "gpt-2"),
            Map.entry("llama3", "llama-bpe"),
            Map.entry("llama-v3", "llama-bpe"),
            Map.entry("falcon3", "llama-bpe"),
            Map.entry("dbrx", "llama-bpe"),
            Map.entry("smaug-bpe", "llama-bpe"),
            Map.entry("deepseek-r1-qwen", "qwen2"),
            Map.entry("stablelm2", "qwen2"),
            Map.entry("olmo", "gpt-2"),
            Map.entry("mpt", "gpt-2"),
            Map.entry("jais", "gpt-2"),
            Map.entry("phi-2", "gpt-2"),
            Map.entry("starcoder", "smollm"),
            Map.entry("refact", "smollm"),
            Map.entry("command-r", "smollm"),
            Map.entry("codeshell", "smollm"),
            Map.entry("exaone", "smollm"),
            Map.entry("minerva-7b", "smollm"),
            Map.entry("llama4", "gpt-4o"));

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

    /** GPT-2's printable stand-in for byte {@code b} (the text of its byte token in a byte-level vocabulary). */
    public static String byteCharacter(int b) {
        return String.valueOf(BYTE_TO_CHAR[b & 0xFF]);
    }

    private final Vocabulary vocab;
    private final Map<String, Integer> ranks;
    private final List<Pattern> pre;
    private final boolean ignoreMerges;
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
        Rules rules = PRE.get(name);
        if (rules == null) {
            throw new IllegalArgumentException("unsupported BPE pre-tokenizer '" + preName + "' (supported: "
                    + String.join(", ", new TreeSet<>(PRE.keySet())) + " and their aliases "
                    + new TreeSet<>(ALIASES.keySet()) + ")");
        }
        this.pre = rules.regexes().stream()
                .map(r -> Pattern.compile(r, Pattern.UNICODE_CHARACTER_CLASS))
                .toList();
        this.ignoreMerges = rules.ignoreMerges();
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

    /**
     * The pre-tokenizer's words of {@code fragment}: each regex's matches and the text between them, regex after regex.
     */
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
        if (ignoreMerges) {
            int whole = vocab.id(byteCharacters(bytes));
            if (whole >= 0) {
                out.add(whole);
                return;
            }
        }
        int n = bytes.length;
        String[] sym = new String[n];
        int[] prev = new int[n], next = new int[n];
        for (int i = 0; i < n; i++) {
            sym[i] = String.valueOf(BYTE_TO_CHAR[bytes[i] & 0xFF]);
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Pair> queue = new PriorityQueue<>(
                (a, b) -> a.rank != b.rank ? Integer.compare(a.rank, b.rank) : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) offer(queue, sym, i, i + 1);
        while (!queue.isEmpty()) {
            Pair p = queue.poll();
            int l = p.left, r = p.right;
            // stale when either side has been merged since the pair was queued
            if (sym[l] == null
                    || sym[r] == null
                    || next[l] != r
                    || !sym[l].equals(p.leftText)
                    || !sym[r].equals(p.rightText)) continue;
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

    private static String byteCharacters(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length);
        for (byte b : bytes) sb.append(BYTE_TO_CHAR[b & 0xFF]);
        return sb.toString();
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
        ByteArrayOutputStream out = new ByteArrayOutputStream(text.length());
        for (char c : text.toCharArray()) {
            Byte b = CHAR_TO_BYTE.get(c);
            if (b != null) out.write(b);
            else out.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }
}
