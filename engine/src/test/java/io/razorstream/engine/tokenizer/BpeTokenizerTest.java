package io.razorstream.engine.tokenizer;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Byte-level BPE on hand-made vocabularies: each pre-tokenizer rule, merges by rank, special tokens. */
class BpeTokenizerTest {
    /** GPT-2's printable stand-ins for bytes: space is Ġ (U+0120), newline Ċ (U+010A), tab ĉ (U+0109). */
    static final String SP = "\u0120", NL = "\u010A";

    /** Every printable ASCII byte-character and the stand-ins for space and newline, plus the given tokens. */
    static BpeTokenizer tokenizer(String pre, List<String> merges, String... extra) {
        return tokenizer(pre, merges, List.of(), extra);
    }

    /** As above, with {@code userDefined} tokens (GGUF type 4) as well as the control tokens {@code extra}. */
    static BpeTokenizer tokenizer(String pre, List<String> merges, List<String> userDefined, String... extra) {
        return tokenizer(pre, merges, userDefined, List.of(), extra);
    }

    /** As above, with {@code normal} tokens that no merge produces. */
    static BpeTokenizer tokenizer(
            String pre, List<String> merges, List<String> userDefined, List<String> normal, String... extra) {
        List<String> texts = new ArrayList<>();
        List<Vocabulary.TokenType> types = new ArrayList<>();
        for (char c = '!'; c <= '~'; c++) add(texts, types, String.valueOf(c), Vocabulary.TokenType.NORMAL);
        add(texts, types, SP, Vocabulary.TokenType.NORMAL);
        add(texts, types, NL, Vocabulary.TokenType.NORMAL);
        add(texts, types, "\u00C3", Vocabulary.TokenType.NORMAL); // é's UTF-8 bytes C3 A9 as byte-characters
        add(texts, types, "\u00A9", Vocabulary.TokenType.NORMAL);
        for (String m : merges) add(texts, types, m.replace(" ", ""), Vocabulary.TokenType.NORMAL);
        for (String n : normal) add(texts, types, n, Vocabulary.TokenType.NORMAL);
        for (String e : extra) add(texts, types, e, Vocabulary.TokenType.CONTROL);
        for (String u : userDefined) add(texts, types, u, Vocabulary.TokenType.USER_DEFINED);
        Vocabulary v = new Vocabulary(
                "gpt2",
                texts.toArray(String[]::new),
                new float[texts.size()],
                types.toArray(Vocabulary.TokenType[]::new),
                -1,
                -1,
                -1,
                false,
                false,
                false);
        return new BpeTokenizer(v, merges, pre);
    }

    private static void add(List<String> texts, List<Vocabulary.TokenType> types, String t, Vocabulary.TokenType type) {
        if (!texts.contains(t)) {
            texts.add(t);
            types.add(type);
        }
    }

    static List<String> pieces(BpeTokenizer t, String text, boolean special) {
        List<String> out = new ArrayList<>();
        for (int id : t.encode(text, false, special)) out.add(new String(t.piece(id), StandardCharsets.UTF_8));
        return out;
    }

    @Test
    void gpt2SplitsContractionsLettersDigitsAndWhitespaceRuns() {
        BpeTokenizer t = tokenizer("gpt-2", List.of());
        assertThat(t.words("I'll say it's 2025!")).containsExactly("I", "'ll", " say", " it", "'s", " 2025", "!");
        assertThat(t.words("a   b")).containsExactly("a", "  ", " b"); // the run gives its last space to the word
        assertThat(t.words("one\n\ntwo\tthree"))
                .containsExactly("one", "\n", "\n", "two", "\t", "three"); // unmatched text is a word
        assertThat(t.words("héllo wörld")).containsExactly("héllo", " wörld"); // unicode letters stay in words
    }

    @Test
    void llama3GroupsDigitsByThreeAndKeepsNewlineRunsTogether() {
        BpeTokenizer t = tokenizer("llama-bpe", List.of());
        assertThat(t.words("1234567")).containsExactly("123", "456", "7");
        assertThat(t.words("I'LL go\n\n  now")).containsExactly("I", "'LL", " go", "\n\n", " ", " now");
        assertThat(t.words("x=(y+1)")).containsExactly("x", "=(", "y", "+", "1", ")");
    }

    @Test
    void qwen2SplitsEveryDigit() {
        BpeTokenizer t = tokenizer("qwen2", List.of());
        assertThat(t.words("v2025")).containsExactly("v", "2", "0", "2", "5");
        assertThat(tokenizer("deepseek-r1-qwen", List.of()).words("42")).containsExactly("4", "2"); // an alias
    }

    @Test
    void aMissingOrDefaultPreTokenizerUsesLlamaCppsDefaultRulesNotGpt2s() {
        // punctuation runs first (so "$" leaves the number's space behind), GPT-2's rule, digit runs, then 3-digit
        // groups
        List<String> expected = List.of("Hello", ",", " world", "!!!", " ", "123", "45", " ", "$", "x");
        assertThat(tokenizer("default", List.of()).words("Hello, world!!! 12345 $x"))
                .containsExactlyElementsOf(expected);
        assertThat(tokenizer(null, List.of()).words("Hello, world!!! 12345 $x")).containsExactlyElementsOf(expected);
        assertThat(tokenizer("gpt-2", List.of()).words("Hello, world!!! 12345 $x"))
                .containsExactly("Hello", ",", " world", "!!!", " 12345", " $", "x");
        assertThat(tokenizer("default", List.of()).words("n \u0663\u0664\u0665"))
                .containsExactly("n", " ", "\u0663\u0664\u0665"); // any digits
    }

    @Test
    void falconSplitsPunctuationAndBackticksFirstAndGroupsAsciiDigitsByThree() {
        BpeTokenizer t = tokenizer("falcon", List.of());
        assertThat(t.words("x 1234 `y`")).containsExactly("x", " ", "123", "4", " ", "`", "y", "`");
        assertThat(t.words("n \u0663\u0664\u0665"))
                .containsExactly("n", " \u0663\u0664\u0665"); // only ASCII digits are grouped
    }

    @Test
    void deepseekCoderSplitsLettersPunctuationCjkAndSingleDigits() {
        BpeTokenizer t = tokenizer("deepseek-coder", List.of());
        assertThat(t.words("print(\u4F60\u597D) 42\nok"))
                .containsExactly("print", "(", "\u4F60\u597D", ")", " ", "4", "2", "\n", "ok");
        assertThat(t.words("a  b"))
                .containsExactly("a", " ", " b"); // one leading space joins the word, the rest stands alone
    }

    @Test
    void smollmSplitsDigitsFirstThenByGpt2Rules() {
        BpeTokenizer t = tokenizer("smollm", List.of());
        assertThat(t.words("in 2025 it's")).containsExactly("in", " ", "2", "0", "2", "5", " it", "'s");
    }

    @Test
    void mergesApplyByRankNotByPosition() {
        // "h e" (rank 0) merges before "Ġ t" (rank 1) although "Ġ t" comes first in the word.
        BpeTokenizer t = tokenizer("gpt-2", List.of("h e", SP + " t", SP + "t he"));
        assertThat(pieces(t, " the", false)).containsExactly(" the");
        BpeTokenizer partial = tokenizer("gpt-2", List.of("h e", SP + " t"));
        assertThat(pieces(partial, " the", false)).containsExactly(" t", "he");
        // é is two bytes (C3 A9), each its own byte-character token; together they decode back to é
        int[] ids = partial.encode("thé", false, false);
        assertThat(ids).hasSize(4);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) bytes.writeBytes(partial.piece(id));
        assertThat(bytes.toString(StandardCharsets.UTF_8)).isEqualTo("thé");
    }

    @Test
    void userDefinedTokensAreAlwaysSplitOutControlTokensOnlyWhenAsked() {
        // as llama.cpp partitions text: user-defined tokens (here a run of three spaces and a word) whatever the
        // special-token flag, control tokens only with it; longest match first
        BpeTokenizer t = tokenizer("gpt-2", List.of(), List.of("   ", "  ", "<tool>"), "<|im_end|>");
        int three = t.vocabulary().id("   "),
                two = t.vocabulary().id("  "),
                tool = t.vocabulary().id("<tool>"),
                end = t.vocabulary().id("<|im_end|>");
        for (boolean special : new boolean[] {false, true}) {
            int[] ids = t.encode("a   b<tool>c  d<|im_end|>", false, special);
            assertThat(ids)
                    .as("special=%s", special)
                    .contains(three, tool, two)
                    .doesNotContain(t.vocabulary().id(SP));
            assertThat(ids)
                    .as("special=%s", special)
                    .containsSubsequence(
                            t.vocabulary().id("a"), three, t.vocabulary().id("b"), tool);
            if (special) assertThat(ids).contains(end);
            else assertThat(ids).doesNotContain(end);
        }
        assertThat(new String(t.piece(three), StandardCharsets.UTF_8)).isEqualTo("   ");
    }

    @Test
    void specialTokensOnlyWhenAsked() {
        BpeTokenizer t = tokenizer("qwen2", List.of("< |"), "<|im_end|>");
        int special = t.vocabulary().id("<|im_end|>");
        assertThat(t.encode("hi<|im_end|>", false, true)).contains(special);
        assertThat(t.encode("hi<|im_end|>", false, false))
                .doesNotContain(special); // user text cannot inject a control token
        assertThat(t.piece(special)).isEmpty();
    }

    @Test
    void deepseekLlmSplitsNewlinesCasedLetterRunsPunctuationCjkAndDigitRuns() {
        BpeTokenizer t = tokenizer("deepseek-llm", List.of());
        assertThat(t.words("Hello World\n  123 \u4F60\u597D!"))
                .containsExactly("Hello", " World", "\n", "  ", "123", " ", "\u4F60\u597D", "!");
        assertThat(t.words("\u0394\u03B5\u03B1 \u0394\u03B5"))
                .containsExactly("\u0394\u03B5\u03B1", " \u0394\u03B5"); // Greek cased letters
        // the punctuation rule's class !-/:-~ spans the ASCII letters too, so it cuts an accented word around them (as
        // llama.cpp does)
        assertThat(t.words("\u00C9t\u00E9")).containsExactly("\u00C9", "t", "\u00E9");
        assertThat(t.words("ok  ")).containsExactly("ok", "  "); // trailing spaces are one word
    }

    @Test
    void deepseekV3GroupsDigitsByThreeSplitsCjkAndKeepsPunctuationBeforeAsciiWords() {
        BpeTokenizer t = tokenizer("deepseek-v3", List.of());
        assertThat(t.words("Hello, 12345 \u4E16\u754C"))
                .containsExactly("Hello", ",", " ", "123", "45", " ", "\u4E16\u754C");
        assertThat(t.words("x.NET \u3072\u3089"))
                .containsExactly("x", ".NET", " ", "\u3072\u3089"); // a punctuation mark leads an ASCII word; kana runs
        // llama.cpp's regex classes leave '~' out of \p{S}: " ~t" is a space then "~tilde" (checked with
        // llama-tokenize), " ^c" is " ^" then "c"
        assertThat(t.words("a ~tilde ^caret")).containsExactly("a", " ", "~tilde", " ^", "caret");
    }

    @Test
    void tekkenSplitsLetterRunsAtCaseChangesAndDigitsOneByOne() {
        BpeTokenizer t = tokenizer("tekken", List.of());
        assertThat(t.words("HelloWorld FOOBar 42")).containsExactly("Hello", "World", " FOOBar", " ", "4", "2");
        assertThat(t.words("I'm")).containsExactly("I", "'m");
        assertThat(t.words("a/b//\n"))
                .containsExactly("a", "/b", "//\n"); // punctuation runs may end in '/' and newlines
    }

    @Test
    void gpt4oKeepsContractionsWithTheirWordAndGroupsDigitsByThree() {
        BpeTokenizer t = tokenizer("gpt-4o", List.of());
        assertThat(t.words("I'm HAPPY 12345")).containsExactly("I'm", " HAPPY", " ", "123", "45");
        assertThat(t.words("HelloWorld")).containsExactly("Hello", "World");
        assertThat(tokenizer("llama4", List.of()).words("you'RE"))
                .containsExactly("you'RE"); // an alias; contractions in either case
    }

    @Test
    void commandRAndChatglmUseTheRulesLlamaCppGivesThem() {
        assertThat(tokenizer("command-r", List.of()).words("in 2025 it's"))
                .containsExactly("in", " ", "2", "0", "2", "5", " it", "'s");
        assertThat(tokenizer("chatglm-bpe", List.of()).words("1234567 I'LL"))
                .containsExactly("123", "456", "7", " I", "'LL");
    }

    @Test
    void llama3AndTekkenTakeAWordThatIsATokenWholeBeforeAnyMerge() {
        // "hello" is in the vocabulary, but the merges alone reach only "he" "ll" "o"
        List<String> merges = List.of("h e", "l l");
        BpeTokenizer withIgnoreMerges = tokenizer("llama-bpe", merges, List.of(), List.of("hello"));
        BpeTokenizer withoutIt = tokenizer("chatglm-bpe", merges, List.of(), List.of("hello"));
        assertThat(pieces(withIgnoreMerges, "hello", false)).containsExactly("hello");
        assertThat(pieces(tokenizer("tekken", merges, List.of(), List.of("hello")), "hello", false))
                .containsExactly("hello");
        assertThat(pieces(withoutIt, "hello", false)).containsExactly("he", "ll", "o");
    }

    @Test
    void unknownPreTokenizerIsRefusedByName() {
        assertThatThrownBy(() -> tokenizer("viking", List.of()))
                .hasMessageContaining("unsupported BPE pre-tokenizer 'viking'")
                .hasMessageContaining("qwen2")
                .hasMessageContaining("deepseek-llm");
    }
}
