package io.razorstream.engine.tokenizer;

import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whitespace-stripping token attributes llama.cpp sets by model name (llama-vocab.cpp, end of {@code load}) and
 * applies when it splits special tokens out of text ({@code tokenizer_st_partition}), on built vocabularies.
 */
class StripAttributesTest {
    @TempDir
    Path dir;

    /** The SPM vocabulary random-model writes for phi-3-mini (unk, s, /s, byte tokens, pieces), under {@code name}. */
    private Tokenizer spm(String name) throws IOException {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "phi3");
        if (name != null) w.putString("general.name", name);
        List<String> pieces = List.of("\u2581", "a", "b", "\u2581a", "\u2581b");
        SpmVocabularyWriter.write(w, pieces, new float[] {-5, -4, -3, -1, -2});
        Path file = dir.resolve((name == null ? "unnamed" : name.replaceAll("\\W", "_")) + ".gguf");
        w.write(file);
        try (GgufFile f = GgufFile.open(file)) {
            return Tokenizer.from(f);
        }
    }

    private static List<String> pieces(Tokenizer t, List<Tokenizer.Segment> segments) {
        List<String> out = new ArrayList<>();
        for (int id : t.encode(segments, false)) {
            out.add(
                    t.vocabulary().type(id) == Vocabulary.TokenType.NORMAL
                            ? new String(t.piece(id), StandardCharsets.UTF_8)
                            : t.vocabulary().text(id));
        }
        return out;
    }

    private static List<String> pieces(Tokenizer t, String text) {
        return pieces(t, List.of(new Tokenizer.Segment(text, true)));
    }

    @Test
    void aPhi3NamedSpmVocabularyDropsTheWhitespaceAfterEndOfSentenceButNotAfterBosOrUnk() throws IOException {
        for (String name : new String[] {"Phi-3-mini-4k-instruct", "random phi-3-mini F32", "PHI3 medium"
        }) { // llama.cpp lowercases general.name
            Tokenizer t = spm(name);
            Vocabulary v = t.vocabulary();
            assertThat(v.rstrip(v.id("</s>"))).as(name).isTrue();
            assertThat(v.rstrip(v.id("<s>")) || v.rstrip(v.id("<unk>")))
                    .as(name)
                    .isFalse();
            // the whitespace run after </s> (spaces, newline, tab) is gone: "b" starts a fragment and gets the space
            // prefix
            assertThat(pieces(t, "a</s>  b")).as(name).containsExactly(" a", "</s>", " b");
            assertThat(pieces(t, "a</s>\n\t b")).as(name).containsExactly(" a", "</s>", " b");
            assertThat(pieces(t, "a</s>   ")).as(name).containsExactly(" a", "</s>");
            // <s> and <unk> keep it
            assertThat(pieces(t, "a<s>  b")).as(name).containsExactly(" a", "<s>", " ", " ", " b");
            assertThat(pieces(t, "a<unk>  b")).as(name).containsExactly(" a", "<unk>", " ", " ", " b");
        }
    }

    @Test
    void theSameVocabularyWithoutThePhi3NameKeepsTheWhitespace() throws IOException {
        for (String name : new String[] {"TinyLlama-1.1B", "phimini-random-256x2", null}) {
            Tokenizer t = spm(name);
            assertThat(t.vocabulary().rstrip(t.vocabulary().id("</s>")))
                    .as(name)
                    .isFalse();
            assertThat(pieces(t, "a</s>  b")).as(name).containsExactly(" a", "</s>", " ", " ", " b");
        }
    }

    @Test
    void onlyWhatCsIsspaceCallsWhitespaceIsStrippedAndOnlyWhereSpecialTokensAreParsed() throws IOException {
        Tokenizer t = spm("Phi-3-mini-4k-instruct");
        // ASCII space, \t \n \v \f \r are; U+3000 and U+00A0 are not (C isspace is false on their UTF-8 bytes), so
        // after the prefix space they fall back to bytes
        assertThat(pieces(t, "a</s> \t\n\u000B\f\rb")).containsExactly(" a", "</s>", " b");
        assertThat(pieces(t, "a</s>\u3000\u00A0b"))
                .containsExactly(" a", "</s>", " ", "<0xE3>", "<0x80>", "<0x80>", "<0xC2>", "<0xA0>", "b");
        // unparsed, "</s>" is text (bytes here) and strips nothing
        assertThat(pieces(t, List.of(new Tokenizer.Segment("a</s>  b", false))))
                .containsExactly(" a", "<0x3C>", "<0x2F>", "<0x73>", "<0x3E>", " ", " b");
    }

    @Test
    void theStripReachesIntoTheNextSegmentAsOnTheWholePrompt() throws IOException {
        Tokenizer t = spm("Phi-3-mini-4k-instruct");
        List<Tokenizer.Segment> segments = List.of(
                new Tokenizer.Segment("a</s>\n", true),
                new Tokenizer.Segment("  ", false),
                new Tokenizer.Segment(" b", false));
        assertThat(pieces(t, segments)).containsExactly(" a", "</s>", " b");
    }

    /**
     * A byte-level BPE vocabulary: printable ASCII, the stand-ins for space and newline, and the given control tokens.
     */
    private static BpeTokenizer bpe(Vocabulary.ModelNames names, String... control) {
        List<String> texts = new ArrayList<>();
        List<Vocabulary.TokenType> types = new ArrayList<>();
        for (char c = '!'; c <= '~'; c++) {
            texts.add(String.valueOf(c));
            types.add(Vocabulary.TokenType.NORMAL);
        }
        texts.addAll(List.of(BpeTokenizer.byteCharacter(' '), BpeTokenizer.byteCharacter('\n')));
        types.addAll(List.of(Vocabulary.TokenType.NORMAL, Vocabulary.TokenType.NORMAL));
        for (String s : control) {
            texts.add(s);
            types.add(Vocabulary.TokenType.CONTROL);
        }
        texts.add("<tool>");
        types.add(Vocabulary.TokenType.USER_DEFINED);
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
                false,
                names);
        return new BpeTokenizer(v, List.of(), "gpt-2");
    }

    private static String decoded(Tokenizer t, String text) {
        StringBuilder out = new StringBuilder();
        for (int id : t.encode(text, false, true)) {
            out.append(
                    t.vocabulary().type(id) == Vocabulary.TokenType.NORMAL
                            ? new String(t.piece(id), StandardCharsets.UTF_8)
                            : t.vocabulary().text(id));
        }
        return out.toString();
    }

    @Test
    void inBpeToAPhi3NameGivesRstripToEverySpecialTokenButUnkBosAndEndOfText() {
        Vocabulary.ModelNames phi3 = new Vocabulary.ModelNames("Phi-3.5-mini-instruct", "gpt-2", "phi3");
        BpeTokenizer t = bpe(phi3, "<|end|>", "<|user|>", "</s>", "<s>", "<unk>", "<|endoftext|>");
        assertThat(decoded(t, "<|user|>\nhi<|end|>\n<tool> x</s> y")).isEqualTo("<|user|>hi<|end|><tool>x</s>y");
        assertThat(decoded(t, "<s> a<unk> b<|endoftext|> c")).isEqualTo("<s> a<unk> b<|endoftext|> c");
        // user-defined tokens are split out (and so strip) even when control tokens are not parsed
        assertThat(new String(t.piece(t.encode("<tool>  x", false, false)[1]), StandardCharsets.UTF_8))
                .isEqualTo("x");

        BpeTokenizer unnamed = bpe(Vocabulary.ModelNames.NONE, "<|end|>", "<|user|>");
        assertThat(decoded(unnamed, "<|user|>\nhi<|end|>\n")).isEqualTo("<|user|>\nhi<|end|>\n");
    }

    @Test
    void jinaV2AndModernBertStripTheWhitespaceBeforeTheirMaskToken() {
        BpeTokenizer jina = bpe(
                new Vocabulary.ModelNames("jina-embeddings-v2-base-es", "jina-v2-es", "jina-bert-v2"),
                "<mask>",
                "</s>");
        assertThat(decoded(jina, "a \n <mask> b")).isEqualTo("a<mask> b");
        assertThat(jina.vocabulary().rstrip(jina.vocabulary().id("</s>"))).isFalse();
        // the jina rule comes first: a phi-3 name does not add rstrip to it
        BpeTokenizer both = bpe(new Vocabulary.ModelNames("phi-3 jina", "jina-v2-code", null), "<mask>", "</s>");
        assertThat(decoded(both, "a <mask> </s> b")).isEqualTo("a<mask> </s> b");
        assertThat(decoded(bpe(new Vocabulary.ModelNames("x", null, "nomic-bert-moe"), "<mask>"), "a  <mask>"))
                .isEqualTo("a<mask>");

        BpeTokenizer modernBert =
                bpe(new Vocabulary.ModelNames("Modern-BERT-base", "modern-bert", "modern-bert"), "[MASK]", "<mask>");
        assertThat(decoded(modernBert, "a [MASK] <mask>")).isEqualTo("a[MASK] <mask>");
        assertThat(decoded(bpe(Vocabulary.ModelNames.NONE, "[MASK]"), "a [MASK]"))
                .isEqualTo("a [MASK]");
    }
}
