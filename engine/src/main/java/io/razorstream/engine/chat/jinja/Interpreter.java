package io.razorstream.engine.chat.jinja;

import io.razorstream.engine.chat.jinja.Values.Callable;
import io.razorstream.engine.chat.jinja.Values.Namespace;
import io.razorstream.engine.chat.jinja.Values.Undefined;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders parsed statements. Scopes follow Jinja2: a for loop's body and a macro's body have their own (a {@code set}
 * inside them stays there; hence {@code namespace}), an {@code if} has none.
 */
final class Interpreter {
    /** How a run of statements ended: normally, or at a {@code break} / {@code continue} of the loop around it. */
    private enum Flow {
        NORMAL,
        BREAK,
        CONTINUE
    }

    static final class Scope {
        private final Scope parent;
        private final Map<String, Object> vars = new HashMap<>();

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object get(String name) {
            for (Scope s = this; s != null; s = s.parent) {
                if (s.vars.containsKey(name)) return s.vars.get(name);
            }
            return new Undefined(name);
        }

        void set(String name, Object value) {
            vars.put(name, value);
        }
    }

    private final Builtins builtins;

    Interpreter(Builtins builtins) {
        this.builtins = builtins;
    }

    String render(List<Node> nodes, Scope scope) {
        StringBuilder out = new StringBuilder();
        Flow f = run(nodes, scope, out);
        if (f != Flow.NORMAL) throw new JinjaException("'" + f.name().toLowerCase() + "' outside a loop", 0);
        return out.toString();
    }

    private Flow run(List<Node> nodes, Scope scope, StringBuilder out) {
        for (Node n : nodes) {
            Flow f = run(n, scope, out);
            if (f != Flow.NORMAL) return f;
        }
        return Flow.NORMAL;
    }

    private Flow run(Node node, Scope scope, StringBuilder out) {
        switch (node) {
            case Node.Text t -> out.append(t.text());
            case Node.Output o -> out.append(Values.str(eval(o.expr(), scope)));
            case Node.If i -> {
                for (int k = 0; k < i.conditions().size(); k++) {
                    if (Values.truthy(eval(i.conditions().get(k), scope)))
                        return run(i.bodies().get(k), scope, out);
                }
                return run(i.orElse(), scope, out);
            }
            case Node.For f -> {
                return loop(f, scope, out);
            }
            case Node.Set s -> assign(s, scope);
            case Node.Macro m -> scope.set(m.name(), macro(m, scope));
            case Node.FilterBlock fb -> {
                Scope inner = new Scope(scope);
                String body = render(fb.body(), inner);
                Node.Filter f = (Node.Filter) fb.filter();
                out.append(Values.str(filter(f, body, scope)));
            }
            case Node.Break b -> {
                return Flow.BREAK;
            }
            case Node.Continue c -> {
                return Flow.CONTINUE;
            }
            default -> throw new JinjaException("not a statement", node.line());
        }
        return Flow.NORMAL;
    }

    private Flow loop(Node.For f, Scope scope, StringBuilder out) {
        List<Object> items = Values.iterate(eval(f.iterable(), scope), f.line());
        if (f.filter() != null) {
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                Scope s = new Scope(scope);
                bind(f.targets(), item, s, f.line());
                if (Values.truthy(eval(f.filter(), s))) kept.add(item);
            }
            items = kept;
        }
        if (items.isEmpty()) return run(f.orElse(), new Scope(scope), out);
        int n = items.size();
        for (int i = 0; i < n; i++) {
            Scope s = new Scope(scope);
            bind(f.targets(), items.get(i), s, f.line());
            Map<String, Object> loop = new LinkedHashMap<>();
            loop.put("index", (long) i + 1);
            loop.put("index0", (long) i);
            loop.put("revindex", (long) (n - i));
            loop.put("revindex0", (long) (n - i - 1));
            loop.put("first", i == 0);
            loop.put("last", i == n - 1);
            loop.put("length", (long) n);
            loop.put("depth", 1L);
            loop.put("depth0", 0L);
            loop.put("previtem", i > 0 ? items.get(i - 1) : new Undefined("previtem"));
            loop.put("nextitem", i < n - 1 ? items.get(i + 1) : new Undefined("nextitem"));
            final int index = i;
            loop.put("cycle", (Callable) (args, kw) -> args.isEmpty() ? null : args.get(index % args.size()));
            s.set("loop", loop);
            Flow flow = run(f.body(), s, out);
            if (flow == Flow.BREAK) break;
        }
        return Flow.NORMAL;
    }

    private static void bind(List<String> targets, Object item, Scope scope, int line) {
        if (targets.size() == 1) {
            scope.set(targets.get(0), item);
            return;
        }
        List<Object> parts = Values.iterate(item, line);
        if (parts.size() != targets.size()) {
            throw new JinjaException(
                    "cannot unpack " + parts.size() + " values into " + targets.size() + " names", line);
        }
        for (int i = 0; i < targets.size(); i++) scope.set(targets.get(i), parts.get(i));
    }

    private void assign(Node.Set s, Scope scope) {
        Object value = s.block() != null ? render(s.block(), new Scope(scope)) : eval(s.value(), scope);
        if (s.attribute() != null) {
            Object target = scope.get(s.targets().get(0));
            if (!(target instanceof Namespace ns)) {
                throw new JinjaException(
                        "can only set attributes of a namespace, not of '" + Values.typeName(target) + "'", s.line());
            }
            ns.attributes.put(s.attribute(), value);
            return;
        }
        bind(s.targets(), value, scope, s.line());
    }

    private Callable macro(Node.Macro m, Scope defined) {
        return (args, kwargs) -> {
            Scope s = new Scope(defined);
            Map<String, Object> extra = new LinkedHashMap<>(kwargs);
            for (int i = 0; i < m.params().size(); i++) {
                String p = m.params().get(i);
                if (i < args.size()) s.set(p, args.get(i));
                else if (extra.containsKey(p)) s.set(p, extra.remove(p));
                else if (m.defaults().get(i) != null) s.set(p, eval(m.defaults().get(i), s));
                else s.set(p, new Undefined(p));
                extra.remove(p);
            }
            s.set(
                    "varargs",
                    args.size() > m.params().size() ? args.subList(m.params().size(), args.size()) : List.of());
            s.set("kwargs", extra);
            return render(m.body(), s);
        };
    }

    // ---------------------------------------------------------------- expressions

    Object eval(Node node, Scope scope) {
        return switch (node) {
            case Node.Literal l -> l.value();
            case Node.Name n -> {
                Object v = scope.get(n.name());
                yield v instanceof Undefined ? builtins.global(n.name()) : v;
            }
            case Node.ListExpr l -> {
                List<Object> items = new ArrayList<>();
                for (Node i : l.items()) items.add(eval(i, scope));
                yield items;
            }
            case Node.DictExpr d -> {
                Map<Object, Object> map = new LinkedHashMap<>();
                for (int i = 0; i < d.keys().size(); i++)
                    map.put(eval(d.keys().get(i), scope), eval(d.values().get(i), scope));
                yield map;
            }
            case Node.Attribute a -> attribute(eval(a.target(), scope), a.name(), a.line());
            case Node.Subscript s -> item(eval(s.target(), scope), eval(s.index(), scope), s.line());
            case Node.Slice s -> slice(s, scope);
            case Node.Call c -> call(c, scope);
            case Node.Filter f -> filter(f, eval(f.value(), scope), scope);
            case Node.Test t -> {
                List<Object> args = new ArrayList<>();
                for (Node a : t.args()) args.add(eval(a, scope));
                boolean r = builtins.test(t.name(), eval(t.value(), scope), args, t.line());
                yield r != t.negated();
            }
            case Node.Unary u -> unary(u, scope);
            case Node.Binary b -> binary(b, scope);
            case Node.Compare c -> {
                Object left = eval(c.operands().get(0), scope);
                for (int i = 0; i < c.ops().size(); i++) {
                    Object right = eval(c.operands().get(i + 1), scope);
                    if (!Values.truthy(compare(c.ops().get(i), left, right, c))) yield false;
                    left = right;
                }
                yield true;
            }
            case Node.Conditional c ->
                Values.truthy(eval(c.condition(), scope))
                        ? eval(c.then(), scope)
                        : c.otherwise() == null ? new Undefined("") : eval(c.otherwise(), scope);
            default -> throw new JinjaException("not an expression", node.line());
        };
    }

    private Object filter(Node.Filter f, Object value, Scope scope) {
        List<Object> args = new ArrayList<>();
        for (Node a : f.args()) args.add(eval(a, scope));
        Map<String, Object> kwargs = new LinkedHashMap<>();
        for (int i = 0; i < f.kwNames().size(); i++)
            kwargs.put(f.kwNames().get(i), eval(f.kwValues().get(i), scope));
        return builtins.filter(f.name(), value, args, kwargs, f.line());
    }

    private Object call(Node.Call c, Scope scope) {
        Object callee = eval(c.callee(), scope);
        List<Object> args = new ArrayList<>();
        for (Node a : c.args()) args.add(eval(a, scope));
        Map<String, Object> kwargs = new LinkedHashMap<>();
        for (int i = 0; i < c.kwNames().size(); i++)
            kwargs.put(c.kwNames().get(i), eval(c.kwValues().get(i), scope));
        if (callee instanceof Callable f) return f.call(args, kwargs);
        if (callee instanceof Undefined u) throw new JinjaException("'" + u.name() + "' is undefined", c.line());
        throw new JinjaException("'" + Values.typeName(callee) + "' object is not callable", c.line());
    }

    /** {@code obj.name}: Python's attribute first (a method), then the item, else undefined. */
    Object attribute(Object obj, String name, int line) {
        if (obj instanceof Undefined u) throw undefinedOperand(u, line);
        Object method = builtins.method(obj, name, line);
        if (method != null) return method;
        if (obj instanceof Map<?, ?> m && m.containsKey(name)) return m.get(name);
        if (obj instanceof Namespace ns && ns.attributes.containsKey(name)) return ns.attributes.get(name);
        return new Undefined(name);
    }

    /** {@code obj[key]}: the item first, then (for a string key) the attribute, else undefined. */
    Object item(Object obj, Object key, int line) {
        if (obj instanceof Undefined u) throw undefinedOperand(u, line);
        if (obj instanceof Map<?, ?> m) {
            if (m.containsKey(key)) return m.get(key);
            if (key instanceof Long l) { // JSON maps have string keys; 1 and "1" differ in Python too
                return new Undefined(String.valueOf(l));
            }
        } else if ((obj instanceof List<?> || obj instanceof String)
                && Values.isNumber(key)
                && !(key instanceof Double)) {
            List<Object> items = obj instanceof String s ? Values.iterate(s, line) : null;
            int size = items != null ? items.size() : ((List<?>) obj).size();
            long i = Values.toLong(key);
            if (i < 0) i += size;
            if (i < 0 || i >= size) return new Undefined("[" + key + "]");
            return items != null ? items.get((int) i) : ((List<?>) obj).get((int) i);
        }
        if (key instanceof String name) return attribute(obj, name, line);
        return new Undefined(String.valueOf(key));
    }

    private Object slice(Node.Slice s, Scope scope) {
        Object target = eval(s.target(), scope);
        if (target instanceof Undefined u) throw undefinedOperand(u, s.line());
        List<Object> items = Values.iterate(target, s.line());
        int n = items.size();
        Long step = s.step() == null ? null : Values.toLong(eval(s.step(), scope));
        long st = step == null ? 1 : step;
        if (st == 0) throw new JinjaException("slice step cannot be zero", s.line());
        long start = bound(s.start() == null ? null : eval(s.start(), scope), n, st, true);
        long stop = bound(s.stop() == null ? null : eval(s.stop(), scope), n, st, false);
        List<Object> out = new ArrayList<>();
        for (long i = start; st > 0 ? i < stop : i > stop; i += st) out.add(items.get((int) i));
        if (target instanceof String) {
            StringBuilder sb = new StringBuilder();
            for (Object o : out) sb.append((String) o);
            return sb.toString();
        }
        return out;
    }

    /** Python's slice bound: defaults by direction, negatives from the end, clamped. */
    private static long bound(Object v, int n, long step, boolean isStart) {
        if (v == null || v instanceof Undefined) {
            if (step > 0) return isStart ? 0 : n;
            return isStart ? n - 1 : -1;
        }
        long i = Values.toLong(v);
        if (i < 0) i += n;
        if (step > 0) return Math.max(0, Math.min(i, n));
        return Math.max(-1, Math.min(i, n - 1));
    }

    private Object unary(Node.Unary u, Scope scope) {
        Object v = eval(u.operand(), scope);
        if (u.op().equals("not")) return !Values.truthy(v);
        if (v instanceof Long l) return u.op().equals("-") ? -l : l;
        if (v instanceof Double d) return u.op().equals("-") ? -d : d;
        if (v instanceof Boolean b) return u.op().equals("-") ? -(b ? 1L : 0L) : (b ? 1L : 0L);
        if (v instanceof Undefined un) throw undefinedOperand(un, u.line());
        throw new JinjaException("bad operand type for unary " + u.op() + ": '" + Values.typeName(v) + "'", u.line());
    }

    private Object binary(Node.Binary b, Scope scope) {
        String op = b.op();
        Object l = eval(b.left(), scope);
        if (op.equals("and")) return Values.truthy(l) ? eval(b.right(), scope) : l;
        if (op.equals("or")) return Values.truthy(l) ? l : eval(b.right(), scope);
        Object r = eval(b.right(), scope);
        return op.equals("~") ? Values.str(l) + Values.str(r) : compare(op, l, r, b);
    }

    /** A comparison, {@code in}, or arithmetic. */
    private static Object compare(String op, Object l, Object r, Node b) {
        return switch (op) {
            case "==" -> Values.eq(l, r);
            case "!=" -> !Values.eq(l, r);
            case "<" -> Values.compare(defined(l, b), defined(r, b), b.line()) < 0;
            case ">" -> Values.compare(defined(l, b), defined(r, b), b.line()) > 0;
            case "<=" -> Values.compare(defined(l, b), defined(r, b), b.line()) <= 0;
            case ">=" -> Values.compare(defined(l, b), defined(r, b), b.line()) >= 0;
            case "in" -> contains(r, l, b.line());
            case "not in" -> !contains(r, l, b.line());
            default -> arithmetic(op, defined(l, b), defined(r, b), b.line());
        };
    }

    private static Object defined(Object v, Node at) {
        if (v instanceof Undefined u) throw undefinedOperand(u, at.line());
        return v;
    }

    static boolean contains(Object container, Object item, int line) {
        if (container instanceof String s) {
            if (!(item instanceof String sub)) {
                throw new JinjaException(
                        "'in <string>' requires string as left operand, not " + Values.typeName(item), line);
            }
            return s.contains(sub);
        }
        if (container instanceof Map<?, ?> m) return m.containsKey(item);
        if (container instanceof Namespace ns) return ns.attributes.containsKey(item);
        for (Object o : Values.iterate(container, line)) if (Values.eq(o, item)) return true;
        return false;
    }

    private static Object arithmetic(String op, Object l, Object r, int line) {
        if (op.equals("+") && l instanceof String a && r instanceof String c) return a + c;
        if (op.equals("+") && l instanceof List<?> a && r instanceof List<?> c) {
            List<Object> out = new ArrayList<>(a);
            out.addAll(c);
            return out;
        }
        if (op.equals("*") && (l instanceof String || l instanceof List<?>) && r instanceof Long n) return repeat(l, n);
        if (op.equals("*") && (r instanceof String || r instanceof List<?>) && l instanceof Long n) return repeat(r, n);
        if (!Values.isNumber(l) || !Values.isNumber(r)) {
            throw new JinjaException(
                    "unsupported operand type(s) for " + op + ": '" + Values.typeName(l) + "' and '"
                            + Values.typeName(r) + "'",
                    line);
        }
        boolean ints = !(l instanceof Double) && !(r instanceof Double);
        if (ints && !op.equals("/")) {
            long a = Values.toLong(l), c = Values.toLong(r);
            return switch (op) {
                case "+" -> a + c;
                case "-" -> a - c;
                case "*" -> a * c;
                case "//" -> {
                    if (c == 0) throw new JinjaException("integer division or modulo by zero", line);
                    yield Math.floorDiv(a, c);
                }
                case "%" -> {
                    if (c == 0) throw new JinjaException("integer division or modulo by zero", line);
                    yield Math.floorMod(a, c);
                }
                case "**" ->
                    c >= 0 ? (Object) (long) Math.pow(a, c) : (Object) Math.pow(a, c); // not promoted to double
                default -> throw new JinjaException("unknown operator " + op, line);
            };
        }
        double a = Values.toDouble(l), c = Values.toDouble(r);
        return switch (op) {
            case "+" -> a + c;
            case "-" -> a - c;
            case "*" -> a * c;
            case "/" -> {
                if (c == 0) throw new JinjaException("division by zero", line);
                yield a / c;
            }
            case "//" -> Math.floor(a / c);
            case "%" -> a - c * Math.floor(a / c);
            case "**" -> Math.pow(a, c);
            default -> throw new JinjaException("unknown operator " + op, line);
        };
    }

    private static Object repeat(Object v, long n) {
        if (v instanceof String s) return s.repeat((int) Math.max(0, n));
        List<Object> out = new ArrayList<>();
        for (long i = 0; i < n; i++) out.addAll((List<?>) v);
        return out;
    }

    static JinjaException undefinedOperand(Undefined u, int line) {
        return new JinjaException("'" + u.name() + "' is undefined", line);
    }
}
