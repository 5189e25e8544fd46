package io.razorstream.engine.chat.jinja;

import io.razorstream.engine.chat.jinja.Values.Callable;
import io.razorstream.engine.chat.jinja.Values.Namespace;
import io.razorstream.engine.chat.jinja.Values.Undefined;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The filters, tests, globals and Python methods chat templates use: Jinja2's built-ins, the string, dict and list
 * methods of Python (read-only, as under Hugging Face's immutable sandbox), and Hugging Face's additions
 * ({@code raise_exception}, {@code strftime_now}, a {@code tojson} without HTML escaping).
 */
final class Builtins {
    private static final Set<String> MUTATING = Set.of(
            "append",
            "extend",
            "insert",
            "pop",
            "remove",
            "clear",
            "sort",
            "reverse",
            "update",
            "setdefault",
            "popitem",
            "add",
            "discard");

    private final Supplier<ZonedDateTime> clock;
    /** For the filters that look up attributes and items (map, selectattr, sort by attribute, ...). */
    private final Interpreter lookups = new Interpreter(this);

    Builtins(Supplier<ZonedDateTime> clock) {
        this.clock = clock;
    }

    // ---------------------------------------------------------------- globals

    /** The global {@code name} (range, namespace, dict, raise_exception, strftime_now), else undefined. */
    Object global(String name) {
        return switch (name) {
            case "range" -> (Callable) (args, kw) -> range(args);
            case "namespace" ->
                (Callable) (args, kw) -> {
                    Namespace ns = new Namespace();
                    for (Object a : args)
                        if (a instanceof Map<?, ?> m) m.forEach((k, v) -> ns.attributes.put(Values.str(k), v));
                    ns.attributes.putAll(kw);
                    return ns;
                };
            case "dict" ->
                (Callable) (args, kw) -> {
                    Map<Object, Object> m = new LinkedHashMap<>();
                    for (Object a : args) if (a instanceof Map<?, ?> src) m.putAll(src);
                    m.putAll(kw);
                    return m;
                };
            case "raise_exception" ->
                (Callable) (args, kw) -> {
                    throw new JinjaException(args.isEmpty() ? "" : Values.str(args.get(0)), 0, true);
                };
            case "strftime_now" -> (Callable) (args, kw) -> strftime(Values.str(args.get(0)), clock.get());
            default -> new Undefined(name);
        };
    }

    private static List<Object> range(List<Object> args) {
        long start = 0, stop, step = 1;
        if (args.size() == 1) {
            stop = Values.toLong(args.get(0));
        } else {
            start = Values.toLong(args.get(0));
            stop = Values.toLong(args.get(1));
            if (args.size() > 2) step = Values.toLong(args.get(2));
        }
        if (step == 0) throw new JinjaException("range() arg 3 must not be zero", 0);
        List<Object> out = new ArrayList<>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) out.add(i);
        return out;
    }

    /** Python's {@code datetime.strftime} for the directives templates use. */
    static String strftime(String format, ZonedDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                sb.append(c);
                continue;
            }
            char d = format.charAt(++i);
            switch (d) {
                case 'd' -> sb.append(String.format("%02d", t.getDayOfMonth()));
                case 'm' -> sb.append(String.format("%02d", t.getMonthValue()));
                case 'Y' -> sb.append(t.getYear());
                case 'y' -> sb.append(String.format("%02d", t.getYear() % 100));
                case 'H' -> sb.append(String.format("%02d", t.getHour()));
                case 'I' -> sb.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
                case 'M' -> sb.append(String.format("%02d", t.getMinute()));
                case 'S' -> sb.append(String.format("%02d", t.getSecond()));
                case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
                case 'j' -> sb.append(String.format("%03d", t.getDayOfYear()));
                case 'b' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US));
                case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.US));
                case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US));
                case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US));
                case '%' -> sb.append('%');
                default -> sb.append('%').append(d);
            }
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- methods

    /** {@code obj.name} as a bound Python method, or null when the type has no such method. */
    Object method(Object obj, String name, int line) {
        if (obj instanceof String s) {
            return switch (name) {
                case "strip",
                        "lstrip",
                        "rstrip",
                        "split",
                        "rsplit",
                        "startswith",
                        "endswith",
                        "upper",
                        "lower",
                        "title",
                        "capitalize",
                        "replace",
                        "find",
                        "rfind",
                        "index",
                        "count",
                        "join",
                        "splitlines",
                        "isdigit",
                        "isalpha",
                        "isalnum",
                        "isspace",
                        "isupper",
                        "islower",
                        "removeprefix",
                        "removesuffix",
                        "format" -> (Callable) (args, kw) -> stringMethod(s, name, args, kw, line);
                default -> null;
            };
        }
        if (obj instanceof Map<?, ?> m) {
            return switch (name) {
                case "items" -> (Callable) (args, kw) -> items(m);
                case "keys" -> (Callable) (args, kw) -> new ArrayList<Object>(m.keySet());
                case "values" -> (Callable) (args, kw) -> new ArrayList<Object>(m.values());
                case "get" ->
                    (Callable) (args, kw) ->
                            m.containsKey(args.get(0)) ? m.get(args.get(0)) : args.size() > 1 ? args.get(1) : null;
                default -> mutating(obj, name, line);
            };
        }
        if (obj instanceof List<?> l) {
            return switch (name) {
                case "index" ->
                    (Callable) (args, kw) -> {
                        for (int i = 0; i < l.size(); i++) if (Values.eq(l.get(i), args.get(0))) return (long) i;
                        throw new JinjaException(Values.repr(args.get(0)) + " is not in list", line);
                    };
                case "count" ->
                    (Callable) (args, kw) ->
                            l.stream().filter(o -> Values.eq(o, args.get(0))).count();
                default -> mutating(obj, name, line);
            };
        }
        return null;
    }

    private static Object mutating(Object obj, String name, int line) {
        if (MUTATING.contains(name)) {
            throw new JinjaException(
                    "access to attribute '" + name + "' of '" + Values.typeName(obj) + "' object is unsafe", line);
        }
        return null;
    }

    /** A map's (key, value) pairs, as Python's {@code dict.items()}. */
    private static List<Object> items(Map<?, ?> m) {
        List<Object> out = new ArrayList<>();
        for (var e : m.entrySet()) out.add(new ArrayList<>(java.util.Arrays.asList(e.getKey(), e.getValue())));
        return out;
    }

    private static Object stringMethod(String s, String name, List<Object> args, Map<String, Object> kw, int line) {
        Object a0 = args.isEmpty() ? null : args.get(0);
        return switch (name) {
            case "strip" -> Strings.strip(s, a0, true, true);
            case "lstrip" -> Strings.strip(s, a0, true, false);
            case "rstrip" -> Strings.strip(s, a0, false, true);
            case "split" ->
                Strings.split(s, a0, args.size() > 1 ? Values.toLong(args.get(1)) : intKw(kw, "maxsplit", -1));
            case "rsplit" ->
                Strings.rsplit(s, a0, args.size() > 1 ? Values.toLong(args.get(1)) : intKw(kw, "maxsplit", -1));
            case "startswith", "endswith" -> {
                List<Object> options = a0 instanceof List<?> l ? new ArrayList<>(l) : List.of(Values.str(a0));
                String part = args.size() > 1 ? s.substring((int) Math.min(s.length(), Values.toLong(args.get(1)))) : s;
                boolean any = false;
                for (Object o : options) {
                    String p = Values.str(o);
                    any |= name.equals("startswith") ? part.startsWith(p) : part.endsWith(p);
                }
                yield any;
            }
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> Strings.title(s);
            case "capitalize" -> Strings.capitalize(s);
            case "replace" ->
                Strings.replace(
                        s, Values.str(a0), Values.str(args.get(1)), args.size() > 2 ? Values.toLong(args.get(2)) : -1);
            case "find" -> (long) s.indexOf(Values.str(a0));
            case "rfind" -> (long) s.lastIndexOf(Values.str(a0));
            case "index" -> {
                int i = s.indexOf(Values.str(a0));
                if (i < 0) throw new JinjaException("substring not found", line);
                yield (long) i;
            }
            case "count" -> Strings.count(s, Values.str(a0));
            case "join" -> {
                StringBuilder sb = new StringBuilder();
                List<Object> items = Values.iterate(a0, line);
                for (int i = 0; i < items.size(); i++) sb.append(i > 0 ? s : "").append(Values.str(items.get(i)));
                yield sb.toString();
            }
            case "splitlines" -> new ArrayList<Object>(Strings.splitLines(s));
            case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.chars().allMatch(Character::isLetterOrDigit);
            case "isspace" -> !s.isEmpty() && s.chars().allMatch(Strings::isSpace);
            case "isupper" -> s.chars().anyMatch(Character::isLetter) && s.equals(s.toUpperCase(Locale.ROOT));
            case "islower" -> s.chars().anyMatch(Character::isLetter) && s.equals(s.toLowerCase(Locale.ROOT));
            case "removeprefix" ->
                s.startsWith(Values.str(a0)) ? s.substring(Values.str(a0).length()) : s;
            case "removesuffix" ->
                s.endsWith(Values.str(a0))
                        ? s.substring(0, s.length() - Values.str(a0).length())
                        : s;
            case "format" -> Strings.format(s, args, kw, line);
            default -> throw new JinjaException("'str' object has no attribute '" + name + "'", line);
        };
    }

    private static long intKw(Map<String, Object> kw, String name, long otherwise) {
        return kw.containsKey(name) ? Values.toLong(kw.get(name)) : otherwise;
    }

    // ---------------------------------------------------------------- tests

    boolean test(String name, Object v, List<Object> args, int line) {
        Object a0 = args.isEmpty() ? null : args.get(0);
        return switch (name) {
            case "defined" -> !(v instanceof Undefined);
            case "undefined" -> v instanceof Undefined;
            case "none" -> v == null;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "number" -> Values.isNumber(v);
            case "string" -> v instanceof String;
            case "mapping" -> v instanceof Map<?, ?>;
            case "iterable" ->
                v instanceof List<?> || v instanceof Map<?, ?> || v instanceof String || v instanceof Undefined;
            case "sequence" -> v instanceof List<?> || v instanceof Map<?, ?> || v instanceof String;
            case "callable" -> v instanceof Callable;
            case "odd" -> Values.toLong(v) % 2 != 0;
            case "even" -> Values.toLong(v) % 2 == 0;
            case "divisibleby" -> Values.toLong(v) % Values.toLong(a0) == 0;
            case "eq", "equalto", "==" -> Values.eq(v, a0);
            case "ne", "!=" -> !Values.eq(v, a0);
            case "lt", "lessthan", "<" -> Values.compare(v, a0, line) < 0;
            case "gt", "greaterthan", ">" -> Values.compare(v, a0, line) > 0;
            case "le", "<=" -> Values.compare(v, a0, line) <= 0;
            case "ge", ">=" -> Values.compare(v, a0, line) >= 0;
            case "in" -> Interpreter.contains(a0, v, line);
            case "lower" -> v instanceof String s && s.equals(s.toLowerCase(Locale.ROOT));
            case "upper" -> v instanceof String s && s.equals(s.toUpperCase(Locale.ROOT));
            case "sameas" ->
                v == a0 || (v != null && Values.isNumber(v) && Values.eq(v, a0) && v.getClass() == a0.getClass());
            default -> throw new JinjaException("no test named '" + name + "'", line);
        };
    }

    // ---------------------------------------------------------------- filters

    Object filter(String name, Object v, List<Object> args, Map<String, Object> kw, int line) {
        Object a0 = arg(args, kw, 0, null, null);
        // As Jinja2: text filters see an undefined value as "", list filters as empty; arithmetic ones fail.
        if (v instanceof Undefined u
                && Set.of("abs", "round", "dictsort", "attr", "sum", "min", "max")
                        .contains(name)) {
            throw Interpreter.undefinedOperand(u, line);
        }
        return switch (name) {
            case "default", "d" -> {
                boolean bool = Values.truthy(arg(args, kw, 1, "boolean", false));
                yield v instanceof Undefined || (bool && !Values.truthy(v)) ? arg(args, kw, 0, "default_value", "") : v;
            }
            case "length", "count" -> Values.length(v, line);
            case "trim" -> Strings.strip(Values.str(v), a0, true, true);
            case "upper" -> Values.str(v).toUpperCase(Locale.ROOT);
            case "lower" -> Values.str(v).toLowerCase(Locale.ROOT);
            case "title" -> Strings.title(Values.str(v));
            case "capitalize" -> Strings.capitalize(Values.str(v));
            case "replace" ->
                Strings.replace(
                        Values.str(v),
                        Values.str(a0),
                        Values.str(args.get(1)),
                        args.size() > 2 ? Values.toLong(args.get(2)) : -1);
            case "string" -> Values.str(v);
            case "safe", "e", "escape", "forceescape" -> name.equals("safe") ? v : Strings.escapeHtml(Values.str(v));
            case "list" -> Values.iterate(v, line);
            case "first" -> {
                List<Object> l = Values.iterate(v, line);
                yield l.isEmpty() ? new Undefined("first") : l.get(0);
            }
            case "last" -> {
                List<Object> l = Values.iterate(v, line);
                yield l.isEmpty() ? new Undefined("last") : l.get(l.size() - 1);
            }
            case "join" -> {
                Object attribute = arg(args, kw, 1, "attribute", null);
                StringBuilder sb = new StringBuilder();
                List<Object> l = Values.iterate(v, line);
                for (int i = 0; i < l.size(); i++) {
                    Object item = attribute == null ? l.get(i) : get(l.get(i), attribute, line);
                    sb.append(i > 0 ? Values.str(arg(args, kw, 0, "d", "")) : "")
                            .append(Values.str(item));
                }
                yield sb.toString();
            }
            case "reverse" -> {
                if (v instanceof String s) yield new StringBuilder(s).reverse().toString();
                List<Object> l = Values.iterate(v, line);
                java.util.Collections.reverse(l);
                yield l;
            }
            case "int" -> toInt(v, arg(args, kw, 0, "default", 0L));
            case "float" -> toFloat(v, arg(args, kw, 0, "default", 0.0));
            case "abs" -> v instanceof Long l ? (Object) Math.abs(l) : (Object) Math.abs(Values.toDouble(v));
            case "round" -> {
                long precision = Values.toLong(arg(args, kw, 0, "precision", 0L));
                double scale = Math.pow(10, precision), x = Values.toDouble(v) * scale;
                String method = Values.str(arg(args, kw, 1, "method", "common"));
                double r = method.equals("floor")
                        ? Math.floor(x)
                        : method.equals("ceil") ? Math.ceil(x) : Math.signum(x) * Math.floor(Math.abs(x) + 0.5);
                yield r / scale;
            }
            case "items" -> v instanceof Undefined ? new ArrayList<>() : items((Map<?, ?>) v);
            case "dictsort" -> {
                List<Object> pairs = items((Map<?, ?>) v);
                boolean byValue = "value".equals(arg(args, kw, 1, "by", "key"));
                boolean caseSensitive = Values.truthy(arg(args, kw, 0, "case_sensitive", false));
                pairs.sort(sortOrder(p -> ((List<?>) p).get(byValue ? 1 : 0), caseSensitive, line));
                if (Values.truthy(arg(args, kw, 2, "reverse", false))) java.util.Collections.reverse(pairs);
                yield pairs;
            }
            case "sort" -> {
                List<Object> l = Values.iterate(v, line);
                Object attribute = arg(args, kw, 2, "attribute", null);
                boolean caseSensitive = Values.truthy(arg(args, kw, 1, "case_sensitive", false));
                l.sort(sortOrder(o -> attribute == null ? o : get(o, attribute, line), caseSensitive, line));
                if (Values.truthy(arg(args, kw, 0, "reverse", false))) java.util.Collections.reverse(l);
                yield l;
            }
            case "unique" -> {
                List<Object> out = new ArrayList<>();
                for (Object o : Values.iterate(v, line)) {
                    if (out.stream().noneMatch(x -> Values.eq(x, o))) out.add(o);
                }
                yield out;
            }
            case "sum" -> {
                Object attribute = arg(args, kw, 0, "attribute", null);
                Object total = arg(args, kw, 1, "start", 0L);
                for (Object o : Values.iterate(v, line)) {
                    Object x = attribute == null ? o : get(o, attribute, line);
                    total = total instanceof Long a && x instanceof Long b
                            ? (Object) (a + b)
                            : (Object) (Values.toDouble(total) + Values.toDouble(x));
                }
                yield total;
            }
            case "min", "max" -> {
                List<Object> l = Values.iterate(v, line);
                if (l.isEmpty()) yield new Undefined(name);
                Comparator<Object> order = sortOrder(o -> o, false, line);
                yield name.equals("min")
                        ? l.stream().min(order).get()
                        : l.stream().max(order).get();
            }
            case "map" -> map(v, args, kw, line);
            case "select", "reject" -> {
                List<Object> out = new ArrayList<>();
                for (Object o : Values.iterate(v, line)) {
                    boolean ok = args.isEmpty()
                            ? Values.truthy(o)
                            : test(Values.str(args.get(0)), o, args.subList(1, args.size()), line);
                    if (ok == name.equals("select")) out.add(o);
                }
                yield out;
            }
            case "selectattr", "rejectattr" -> {
                List<Object> out = new ArrayList<>();
                for (Object o : Values.iterate(v, line)) {
                    Object x = get(o, args.get(0), line);
                    boolean ok = args.size() < 2
                            ? Values.truthy(x)
                            : test(Values.str(args.get(1)), x, args.subList(2, args.size()), line);
                    if (ok == name.equals("selectattr")) out.add(o);
                }
                yield out;
            }
            case "attr" -> get(v, a0, line);
            case "tojson" -> {
                Object indent = arg(args, kw, 0, "indent", null);
                Object separators = kw.get("separators");
                List<?> seps = separators instanceof List<?> l ? l : null;
                yield Values.json(
                        v,
                        indent == null ? null : (int) Values.toLong(indent),
                        seps == null ? null : Values.str(seps.get(0)),
                        seps == null ? null : Values.str(seps.get(1)),
                        Values.truthy(kw.getOrDefault("sort_keys", false)));
            }
            case "indent" ->
                Strings.indent(
                        Values.str(v),
                        arg(args, kw, 0, "width", 4L),
                        Values.truthy(arg(args, kw, 1, "first", false)),
                        Values.truthy(arg(args, kw, 2, "blank", false)));
            case "wordcount" -> (long) Strings.split(Values.str(v), null, -1).size();
            case "format" -> Strings.percentFormat(Values.str(v), args, line);
            case "center" -> {
                String s = Values.str(v);
                int width = (int) Values.toLong(arg(args, kw, 0, "width", 80L));
                int pad = Math.max(0, width - s.length()), left = pad / 2 + (pad & width & 1);
                yield " ".repeat(left) + s + " ".repeat(pad - left);
            }
            default -> throw new JinjaException("no filter named '" + name + "'", line);
        };
    }

    private Object map(Object v, List<Object> args, Map<String, Object> kw, int line) {
        List<Object> out = new ArrayList<>();
        for (Object o : Values.iterate(v, line)) {
            if (kw.containsKey("attribute")) {
                Object x = get(o, kw.get("attribute"), line);
                out.add(x instanceof Undefined && kw.containsKey("default") ? kw.get("default") : x);
            } else {
                Map<String, Object> rest = new LinkedHashMap<>(kw);
                out.add(filter(Values.str(args.get(0)), o, args.subList(1, args.size()), rest, line));
            }
        }
        return out;
    }

    /** {@code attribute} of {@code o}, where a dotted name walks ("a.b") and a number indexes. */
    private Object get(Object o, Object attribute, int line) {
        if (attribute instanceof Long) return lookups.item(o, attribute, line);
        Object x = o;
        for (String part : Values.str(attribute).split("\\.")) {
            x = part.chars().allMatch(Character::isDigit) && !part.isEmpty()
                    ? lookups.item(x, Long.parseLong(part), line)
                    : lookups.item(x, part, line);
        }
        return x;
    }

    private static Comparator<Object> sortOrder(
            java.util.function.Function<Object, Object> key, boolean caseSensitive, int line) {
        return (a, b) -> {
            Object x = key.apply(a), y = key.apply(b);
            if (!caseSensitive && x instanceof String s && y instanceof String t) {
                return s.toLowerCase(Locale.ROOT).compareTo(t.toLowerCase(Locale.ROOT));
            }
            return Values.compare(x, y, line);
        };
    }

    /** Positional argument {@code i}, else keyword {@code name}, else {@code otherwise}. */
    private static Object arg(List<Object> args, Map<String, Object> kw, int i, String name, Object otherwise) {
        if (i < args.size()) return args.get(i);
        if (name != null && kw.containsKey(name)) return kw.get(name);
        return otherwise;
    }

    private static Object toInt(Object v, Object otherwise) {
        if (v instanceof Long) return v;
        if (v instanceof Double d) return (long) (double) d;
        if (v instanceof Boolean b) return b ? 1L : 0L;
        try {
            return Long.parseLong(Values.str(v).strip());
        } catch (NumberFormatException e) {
            try {
                return (long) Double.parseDouble(Values.str(v).strip());
            } catch (NumberFormatException e2) {
                return otherwise;
            }
        }
    }

    private static Object toFloat(Object v, Object otherwise) {
        if (Values.isNumber(v)) return Values.toDouble(v);
        try {
            return Double.parseDouble(Values.str(v).strip());
        } catch (NumberFormatException e) {
            return otherwise;
        }
    }
}
