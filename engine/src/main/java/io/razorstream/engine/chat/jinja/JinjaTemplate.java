package io.razorstream.engine.chat.jinja;

import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A Jinja2 template, parsed once and rendered as Hugging Face's {@code apply_chat_template} renders chat templates:
 * {@code trim_blocks} and {@code lstrip_blocks} on, loop controls ({@code break}, {@code continue}), an immutable
 * sandbox (templates cannot change lists or dicts), {@code raise_exception}, {@code strftime_now} and a {@code tojson}
 * that does not escape HTML. It covers the statements, expressions, filters, tests and Python methods that chat
 * templates use; anything else is a {@link JinjaException} naming it and the line, never a silent difference.
 *
 * <p>Values passed in: strings, numbers, booleans, null, {@code List}s and {@code Map}s of them (JSON as parsed).
 */
public final class JinjaTemplate {
    private final List<Node> nodes;
    private final Supplier<ZonedDateTime> clock;

    private JinjaTemplate(List<Node> nodes, Supplier<ZonedDateTime> clock) {
        this.nodes = nodes;
        this.clock = clock;
    }

    /** Parses {@code source}; a syntax error is a {@link JinjaException} naming the line. */
    public static JinjaTemplate compile(String source) {
        return new JinjaTemplate(Parser.parse(source), ZonedDateTime::now);
    }

    /** The same template, with {@code strftime_now} reading {@code clock} (tests fix the date). */
    public JinjaTemplate withClock(Supplier<ZonedDateTime> clock) {
        return new JinjaTemplate(nodes, clock);
    }

    /** Renders with {@code variables} as the template's context. */
    public String render(Map<String, ?> variables) {
        Interpreter interpreter = new Interpreter(new Builtins(clock));
        Interpreter.Scope root = new Interpreter.Scope(null);
        variables.forEach((k, v) -> root.set(k, normalize(v)));
        try {
            return interpreter.render(nodes, root);
        } catch (JinjaException e) {
            throw e;
        } catch (RuntimeException | StackOverflowError e) {
            // an operand of a type the operation does not take (Python's TypeError), a runaway macro recursion
            throw new JinjaException("the template failed: " + e, 0);
        }
    }

    /** Java's ints and floats as the template's Long and Double, collections copied as lists and maps. */
    private static Object normalize(Object v) {
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) return ((Number) v).longValue();
        if (v instanceof Float f) return f.doubleValue();
        if (v instanceof Map<?, ?> m) {
            Map<Object, Object> out = new LinkedHashMap<>();
            m.forEach((k, x) -> out.put(k, normalize(x)));
            return out;
        }
        if (v instanceof Iterable<?> l) {
            List<Object> out = new ArrayList<>();
            for (Object x : l) out.add(normalize(x));
            return out;
        }
        return v;
    }
}
