package io.razorstream.engine.chat.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Python's string operations, as templates call them: whitespace is Python's, splitting and stripping are Python's. */
final class Strings {
    private Strings() {}

    /** Python's {@code str.isspace} for one character. */
    static boolean isSpace(int c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || (c >= 0x1c && c <= 0x1f) || c == 0x85;
    }

    /** {@code strip}/{@code lstrip}/{@code rstrip}: whitespace, or the characters of {@code chars}. */
    static String strip(String s, Object chars, boolean left, boolean right) {
        String set = chars == null || chars instanceof Values.Undefined ? null : Values.str(chars);
        int b = 0, e = s.length();
        if (left) while (b < e && strippable(s.charAt(b), set)) b++;
        if (right) while (e > b && strippable(s.charAt(e - 1), set)) e--;
        return s.substring(b, e);
    }

    private static boolean strippable(char c, String set) {
        return set == null ? isSpace(c) : set.indexOf(c) >= 0;
    }

    /** {@code str.split(sep, maxsplit)}: on runs of whitespace (dropping empties) when sep is None. */
    static List<Object> split(String s, Object sep, long maxSplit) {
        List<Object> out = new ArrayList<>();
        if (sep == null || sep instanceof Values.Undefined) {
            int i = 0, n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) i++;
                if (i >= n) break;
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        String d = Values.str(sep);
        if (d.isEmpty()) throw new JinjaException("empty separator", 0);
        int from = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int at = s.indexOf(d, from);
            if (at < 0) break;
            out.add(s.substring(from, at));
            from = at + d.length();
        }
        out.add(s.substring(from));
        return out;
    }

    /** {@code str.rsplit(sep, maxsplit)} with a separator (and as split without a limit otherwise). */
    static List<Object> rsplit(String s, Object sep, long maxSplit) {
        if (sep == null || sep instanceof Values.Undefined || maxSplit < 0) return split(s, sep, maxSplit);
        String d = Values.str(sep);
        List<Object> out = new ArrayList<>();
        int end = s.length();
        while (out.size() < maxSplit) {
            int at = s.lastIndexOf(d, end - d.length());
            if (at < 0) break;
            out.add(0, s.substring(at + d.length(), end));
            end = at;
        }
        out.add(0, s.substring(0, end));
        return out;
    }

    static String replace(String s, String old, String by, long count) {
        if (count < 0) return s.replace(old, by);
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (long n = 0; n < count; n++) {
            int at = s.indexOf(old, from);
            if (at < 0) break;
            sb.append(s, from, at).append(by);
            from = at + old.length();
            if (old.isEmpty()) {
                if (from < s.length()) sb.append(s.charAt(from));
                from++;
            }
        }
        if (from <= s.length()) sb.append(s.substring(Math.min(from, s.length())));
        return sb.toString();
    }

    static long count(String s, String sub) {
        if (sub.isEmpty()) return s.length() + 1;
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) n++;
        return n;
    }

    /** Python's {@code str.title}: a letter after a non-letter is upper case, every other letter lower case. */
    static String title(String s) {
        StringBuilder sb = new StringBuilder();
        boolean previousCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            sb.append(previousCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            previousCased = Character.isLetter(c);
        }
        return sb.toString();
    }

    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        return s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
    }

    /** Python's {@code str.splitlines()} (line ends dropped). */
    static List<String> splitLines(String s) {
        List<String> out = new ArrayList<>();
        int start = 0, i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\n'
                    || c == '\r'
                    || c == 0x0b
                    || c == 0x0c
                    || c == 0x1c
                    || c == 0x1d
                    || c == 0x1e
                    || c == 0x85
                    || c == 0x2028
                    || c == 0x2029) {
                out.add(s.substring(start, i));
                i += c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n' ? 2 : 1;
                start = i;
            } else {
                i++;
            }
        }
        if (start < s.length()) out.add(s.substring(start));
        return out;
    }

    /** Jinja2's {@code indent} filter (its quirks included: the text gets a newline before it is split). */
    static String indent(String s, Object width, boolean first, boolean blank) {
        String indention = width instanceof String w ? w : " ".repeat((int) Values.toLong(width));
        List<String> lines = splitLines(s + "\n");
        StringBuilder rv = new StringBuilder();
        if (blank) {
            rv.append(String.join("\n" + indention, lines));
        } else {
            rv.append(lines.get(0));
            for (int i = 1; i < lines.size(); i++) {
                String line = lines.get(i);
                rv.append('\n').append(line.isEmpty() ? line : indention + line);
            }
        }
        return first ? indention + rv : rv.toString();
    }

    static String escapeHtml(String s) {
        return s.replace("&", "&amp;")
                .replace("<", "&lt;")
                .replace(">", "&gt;")
                .replace("\"", "&#34;")
                .replace("'", "&#39;");
    }

    /** {@code str.format}: {@code {}}, {@code {0}} and {@code {name}} fields, {@code {{}} and {@code }}} escapes. */
    static String format(String s, List<Object> args, Map<String, Object> kw, int line) {
        StringBuilder sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if ((c == '{' || c == '}') && i + 1 < s.length() && s.charAt(i + 1) == c) {
                sb.append(c);
                i++;
            } else if (c == '{') {
                int end = s.indexOf('}', i);
                if (end < 0) throw new JinjaException("Single '{' encountered in format string", line);
                String field = s.substring(i + 1, end);
                Object v;
                if (field.isEmpty()) v = args.get(auto++);
                else if (field.chars().allMatch(Character::isDigit)) v = args.get(Integer.parseInt(field));
                else v = kw.get(field);
                sb.append(Values.str(v));
                i = end;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /** Jinja2's {@code format} filter: Python's {@code %} formatting with {@code %s}, {@code %d} and {@code %%}. */
    static String percentFormat(String s, List<Object> args, int line) {
        StringBuilder sb = new StringBuilder();
        int next = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '%' || i + 1 == s.length()) {
                sb.append(c);
                continue;
            }
            char d = s.charAt(++i);
            switch (d) {
                case '%' -> sb.append('%');
                case 's' -> sb.append(Values.str(args.get(next++)));
                case 'd' -> sb.append(Values.toLong(args.get(next++)));
                default -> throw new JinjaException("unsupported format character '" + d + "'", line);
            }
        }
        return sb.toString();
    }
}
