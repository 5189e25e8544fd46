package io.razorstream.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Turns a stream of token pieces (bytes) into text that is always valid UTF-8: a character whose bytes arrive in
 * several tokens is held back until it is complete; bytes that can never form a character become U+FFFD.
 */
public final class Utf8StreamDecoder {
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    /** Adds bytes and returns the text that is now complete (possibly empty). */
    public String feed(byte[] bytes) {
        pending.writeBytes(bytes);
        byte[] buf = pending.toByteArray();
        int complete = completePrefix(buf);
        pending.reset();
        pending.write(buf, complete, buf.length - complete);
        return new String(buf, 0, complete, StandardCharsets.UTF_8);
    }

    /** Returns whatever is held back (an unfinished character becomes U+FFFD). */
    public String flush() {
        byte[] buf = pending.toByteArray();
        pending.reset();
        return new String(buf, StandardCharsets.UTF_8);
    }

    /** Length of the longest prefix that does not end inside a character that may still be completed. */
    static int completePrefix(byte[] b) {
        int n = b.length;
        // Look back at most 3 bytes for the start of a multi-byte sequence that is not finished yet.
        for (int back = 1; back <= Math.min(3, n); back++) {
            int c = b[n - back] & 0xFF;
            if ((c & 0xC0) == 0x80) continue; // continuation byte: keep looking for the lead
            int need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
            if (c >= 0xF5) need = 1;
            return need > back ? n - back : n;
        }
        return n;
    }
}
