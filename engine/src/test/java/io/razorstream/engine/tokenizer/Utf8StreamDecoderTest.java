package io.razorstream.engine.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Streaming decode of token bytes: characters split across tokens are held back until complete, so every piece handed
 * to the user is valid text; bytes that can never form a character become U+FFFD.
 */
class Utf8StreamDecoderTest {
    private static final String REPLACEMENT = "\uFFFD";

    @Test
    void oneByteAtATimeGivesBackTheStringWithValidChunks() {
        String s = "héllo 你好 🦙";
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        Utf8StreamDecoder d = new Utf8StreamDecoder();
        StringBuilder out = new StringBuilder();
        List<String> chunks = new ArrayList<>();
        for (byte b : bytes) {
            String chunk = d.feed(new byte[] {b});
            assertThat(chunk).doesNotContain(REPLACEMENT);
            if (!chunk.isEmpty()) {
                // a chunk is whole characters: it re-encodes to valid UTF-8 of the same length
                assertThat(new String(chunk.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8))
                        .isEqualTo(chunk);
                assertThat(Character.isHighSurrogate(chunk.charAt(chunk.length() - 1)))
                        .isFalse();
                chunks.add(chunk);
            }
            out.append(chunk);
        }
        assertThat(d.flush()).isEmpty();
        assertThat(out.toString()).isEqualTo(s);
        // fed byte by byte, each character comes out on its own, once its last byte is in
        assertThat(chunks).containsExactly("h", "é", "l", "l", "o", " ", "你", "好", " ", "🦙");
    }

    @Test
    void incompleteCharacterIsHeldBack() {
        Utf8StreamDecoder d = new Utf8StreamDecoder();
        byte[] llama = "🦙".getBytes(StandardCharsets.UTF_8); // F0 9F A6 99
        assertThat(d.feed(new byte[] {'a', llama[0], llama[1]})).isEqualTo("a");
        assertThat(d.feed(new byte[] {llama[2]})).isEmpty();
        assertThat(d.feed(new byte[] {llama[3], 'b'})).isEqualTo("🦙b");
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void randomTextSplitAnywhereComesBackIntact(long seed) {
        // Property: any valid text, cut into byte pieces at arbitrary points, is reproduced exactly
        // and no piece contains U+FFFD.
        SplittableRandom rnd = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            int cp = switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextInt(0x20, 0x80);
                case 1 -> rnd.nextInt(0x80, 0x800);
                case 2 -> rnd.nextInt(0x800, 0xD800);
                default -> rnd.nextInt(0x10000, 0x110000);
            };
            sb.appendCodePoint(cp);
        }
        String s = sb.toString();
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        Utf8StreamDecoder d = new Utf8StreamDecoder();
        StringBuilder out = new StringBuilder();
        for (int pos = 0; pos < bytes.length; ) {
            int len = Math.min(bytes.length - pos, rnd.nextInt(0, 6));
            String chunk = d.feed(Arrays.copyOfRange(bytes, pos, pos + len));
            assertThat(chunk).doesNotContain(REPLACEMENT);
            out.append(chunk);
            pos += len;
        }
        out.append(d.flush());
        assertThat(out.toString()).isEqualTo(s);
    }

    @Test
    void invalidBytesBecomeReplacementCharacters() {
        Utf8StreamDecoder d = new Utf8StreamDecoder();
        assertThat(d.feed(new byte[] {(byte) 0x80})).isEqualTo(REPLACEMENT); // lone continuation byte
        assertThat(d.feed(new byte[] {(byte) 0xFF})).isEqualTo(REPLACEMENT); // never valid in UTF-8
        assertThat(d.feed(new byte[] {'a', (byte) 0xC0, 'b'})).isEqualTo("a" + REPLACEMENT + "b"); // overlong lead
        assertThat(d.feed(new byte[] {(byte) 0xF5})).isEqualTo(REPLACEMENT); // beyond U+10FFFF
        // a lead byte followed by a non-continuation: the lead is invalid, the next character is kept
        assertThat(d.feed(new byte[] {(byte) 0xE4})).isEmpty();
        assertThat(d.feed(new byte[] {'x'})).isEqualTo(REPLACEMENT + "x");
        assertThat(d.flush()).isEmpty();
    }

    @Test
    void flushOfAnUnfinishedSequenceGivesAReplacementCharacter() {
        Utf8StreamDecoder d = new Utf8StreamDecoder();
        assertThat(d.feed(new byte[] {'o', 'k', (byte) 0xE4, (byte) 0xBD})).isEqualTo("ok"); // first 2 of 3 bytes of 你
        assertThat(d.flush()).isEqualTo(REPLACEMENT);
        assertThat(d.flush()).isEmpty(); // flushed: nothing held any more
        assertThat(d.feed("a".getBytes(StandardCharsets.UTF_8))).isEqualTo("a");
    }

    @ParameterizedTest
    @ValueSource(longs = {11, 12, 13, 14, 15})
    void randomBytesDecodeAsTheWholeBufferWould(long seed) {
        // Property: for arbitrary bytes (valid or not), the streamed text plus flush equals decoding
        // all the bytes at once: holding back never changes how invalid input is replaced.
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int trial = 0; trial < 200; trial++) {
            byte[] bytes = new byte[rnd.nextInt(1, 40)];
            for (int i = 0; i < bytes.length; i++) {
                // bias towards the interesting bytes: leads, continuations, ASCII
                bytes[i] = (byte)
                        switch (rnd.nextInt(4)) {
                            case 0 -> rnd.nextInt(0x80, 0xC0);
                            case 1 -> rnd.nextInt(0xC0, 0x100);
                            case 2 -> rnd.nextInt(0x20, 0x80);
                            default -> rnd.nextInt(256);
                        };
            }
            Utf8StreamDecoder d = new Utf8StreamDecoder();
            StringBuilder out = new StringBuilder();
            for (int pos = 0; pos < bytes.length; ) {
                int len = Math.min(bytes.length - pos, rnd.nextInt(1, 4));
                out.append(d.feed(Arrays.copyOfRange(bytes, pos, pos + len)));
                pos += len;
            }
            out.append(d.flush());
            assertThat(out.toString())
                    .as("bytes %s", Arrays.toString(bytes))
                    .isEqualTo(new String(bytes, StandardCharsets.UTF_8));
        }
    }
}
