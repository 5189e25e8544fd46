package io.razorstream.engine.chat.jinja;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a template into text and the tokens of its tags, with the whitespace rules Hugging Face renders chat templates
 * under ({@code trim_blocks} and {@code lstrip_blocks} on, {@code keep_trailing_newline} off) and the
 * {@code -}/{@code +} markers of each tag. The rules follow Jinja2's lexer: a block or comment tag eats the newline
 * after it, the spaces and tabs between a line's start and a block or comment tag go, {@code -} strips all whitespace
 * on its side.
 */
final class Lexer {
    enum Kind {
        TEXT,
        VAR_BEGIN,
        VAR_END,
        BLOCK_BEGIN,
        BLOCK_END,
        NAME,
        STRING,
        INT,
        FLOAT,
        OP,
        EOF
    }

    record Token(Kind kind, String text, int line) {
        boolean is(Kind k, String t) {
            return kind == k && text.equals(t);
        }

        boolean isOp(String t) {
            return is(Kind.OP, t);
        }

        boolean isName(String t) {
            return is(Kind.NAME, t);
        }
    }

    private static final String[] OPERATORS = {
        "**", "//", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "~", "|", ".", ",", ":", "(", ")", "[",
        "]", "{", "}", "="
    };

    private final String src;
    private final List<Token> out = new ArrayList<>();
    private int pos;
    private int line = 1;
    private boolean lineStarting = true;

    private Lexer(String source) {
        this.src = source.endsWith("\n")
                ? source.substring(0, source.length() - (source.endsWith("\r\n") ? 2 : 1))
                : source;
    }

    static List<Token> tokenize(String source) {
        Lexer l = new Lexer(source);
        l.run();
        return l.out;
    }

    private void run() {
        while (pos < src.length()) {
            int tag = nextTag(pos);
            String text = src.substring(pos, tag < 0 ? src.length() : tag);
            if (tag < 0) {
                emitText(text);
                pos = src.length();
                break;
            }
            char kind = src.charAt(tag + 1); // '{', '%' or '#'
            char marker = tag + 2 < src.length() ? src.charAt(tag + 2) : ' ';
            if (marker == '-') {
                text = stripTrailing(text);
            } else if (marker != '+' && kind != '{') {
                int lineStart = text.lastIndexOf('\n') + 1;
                if ((lineStart > 0 || lineStarting) && onlySpacesAndTabs(text, lineStart)) {
                    text = text.substring(0, lineStart);
                }
            }
            emitText(text);
            line += count(src, pos, tag);
            pos = tag + 2 + (marker == '-' || marker == '+' ? 1 : 0);
            if (kind == '#') comment();
            else tag(kind == '{');
        }
        out.add(new Token(Kind.EOF, "", line));
    }

    /** Start of the next {{, {% or {#, or -1. */
    private int nextTag(int from) {
        for (int i = src.indexOf('{', from); i >= 0 && i + 1 < src.length(); i = src.indexOf('{', i + 1)) {
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return -1;
    }

    private void emitText(String text) {
        if (!text.isEmpty()) out.add(new Token(Kind.TEXT, text, line));
    }

    private void comment() {
        int end = src.indexOf("#}", pos);
        if (end < 0) throw new JinjaException("unclosed comment", line);
        boolean strip = end > pos && src.charAt(end - 1) == '-';
        boolean keep = end > pos && src.charAt(end - 1) == '+';
        line += count(src, pos, end);
        pos = end + 2;
        afterTag(strip, !keep);
    }

    private void tag(boolean variable) {
        out.add(new Token(variable ? Kind.VAR_BEGIN : Kind.BLOCK_BEGIN, "", line));
        int depth = 0;
        while (true) {
            skipSpaces();
            if (pos >= src.length()) throw new JinjaException("unclosed tag", line);
            if (depth == 0) {
                String end = variable ? "}}" : "%}";
                for (String m : new String[] {"-", "+", ""}) {
                    if (src.startsWith(m + end, pos)) {
                        pos += m.length() + 2;
                        out.add(new Token(variable ? Kind.VAR_END : Kind.BLOCK_END, "", line));
                        afterTag(m.equals("-"), !variable && !m.equals("+"));
                        return;
                    }
                }
            }
            char c = src.charAt(pos);
            if (Character.isLetter(c) || c == '_') {
                int s = pos;
                while (pos < src.length() && (Character.isLetterOrDigit(src.charAt(pos)) || src.charAt(pos) == '_'))
                    pos++;
                out.add(new Token(Kind.NAME, src.substring(s, pos), line));
            } else if (Character.isDigit(c)) {
                number();
            } else if (c == '\'' || c == '"') {
                string(c);
            } else {
                String op = null;
                for (String o : OPERATORS) {
                    if (src.startsWith(o, pos)) {
                        op = o;
                        break;
                    }
                }
                if (op == null) throw new JinjaException("unexpected character '" + c + "'", line);
                if (op.equals("(") || op.equals("[") || op.equals("{")) depth++;
                if (op.equals(")") || op.equals("]") || op.equals("}")) depth--;
                pos += op.length();
                out.add(new Token(Kind.OP, op, line));
            }
        }
    }

    /** After a tag: {@code -} eats all whitespace, trim_blocks one newline (block and comment tags). */
    private void afterTag(boolean strip, boolean trimNewline) {
        int s = pos;
        if (strip) {
            while (pos < src.length() && Character.isWhitespace(src.charAt(pos))) pos++;
        } else if (trimNewline && src.startsWith("\n", pos)) {
            pos++;
        } else if (trimNewline && src.startsWith("\r\n", pos)) {
            pos += 2;
        }
        line += count(src, s, pos);
        lineStarting = pos > 0 && src.charAt(pos - 1) == '\n';
    }

    private void skipSpaces() {
        while (pos < src.length() && Character.isWhitespace(src.charAt(pos))) {
            if (src.charAt(pos) == '\n') line++;
            pos++;
        }
    }

    private void number() {
        int s = pos;
        boolean isFloat = false;
        while (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '_')) pos++;
        if (pos + 1 < src.length() && src.charAt(pos) == '.' && Character.isDigit(src.charAt(pos + 1))) {
            isFloat = true;
            pos++;
            while (pos < src.length() && Character.isDigit(src.charAt(pos))) pos++;
        }
        if (pos < src.length() && (src.charAt(pos) == 'e' || src.charAt(pos) == 'E')) {
            int e = pos + 1;
            if (e < src.length() && (src.charAt(e) == '+' || src.charAt(e) == '-')) e++;
            if (e < src.length() && Character.isDigit(src.charAt(e))) {
                isFloat = true;
                pos = e;
                while (pos < src.length() && Character.isDigit(src.charAt(pos))) pos++;
            }
        }
        out.add(new Token(isFloat ? Kind.FLOAT : Kind.INT, src.substring(s, pos).replace("_", ""), line));
    }

    private void string(char quote) {
        StringBuilder sb = new StringBuilder();
        int start = line;
        pos++;
        while (true) {
            if (pos >= src.length()) throw new JinjaException("unclosed string", start);
            char c = src.charAt(pos++);
            if (c == quote) break;
            if (c == '\n') line++;
            if (c != '\\' || pos >= src.length()) {
                sb.append(c);
                continue;
            }
            char e = src.charAt(pos++);
            switch (e) {
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case 'r' -> sb.append('\r');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case '0' -> sb.append('\0');
                case '\\', '\'', '"' -> sb.append(e);
                case '\n' -> line++;
                case 'x' -> {
                    sb.append((char) Integer.parseInt(src.substring(pos, pos + 2), 16));
                    pos += 2;
                }
                case 'u' -> {
                    sb.append((char) Integer.parseInt(src.substring(pos, pos + 4), 16));
                    pos += 4;
                }
                default -> sb.append('\\').append(e); // Python keeps unknown escapes as they are
            }
        }
        out.add(new Token(Kind.STRING, sb.toString(), start));
    }

    private static String stripTrailing(String s) {
        int e = s.length();
        while (e > 0 && Character.isWhitespace(s.charAt(e - 1))) e--;
        return s.substring(0, e);
    }

    private static boolean onlySpacesAndTabs(String s, int from) {
        for (int i = from; i < s.length(); i++) if (s.charAt(i) != ' ' && s.charAt(i) != '\t') return false;
        return true;
    }

    private static int count(String s, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) if (s.charAt(i) == '\n') n++;
        return n;
    }
}
