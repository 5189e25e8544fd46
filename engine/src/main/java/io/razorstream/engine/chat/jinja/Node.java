package io.razorstream.engine.chat.jinja;

import java.util.List;

/** The parsed template: statements that write output, and the expressions they evaluate. */
sealed interface Node {
    int line();

    // ---------------------------------------------------------------- statements

    record Text(String text, int line) implements Node {}

    record Output(Node expr, int line) implements Node {}

    record If(List<Node> conditions, List<List<Node>> bodies, List<Node> orElse, int line) implements Node {}

    /** {@code for targets in iterable [if filter]}, with an optional else body (run when nothing was iterated). */
    record For(List<String> targets, Node iterable, Node filter, List<Node> body, List<Node> orElse, int line)
            implements Node {}

    /** {@code set name = value}, {@code set a, b = value}, or {@code set ns.attr = value}. */
    record Set(List<String> targets, String attribute, Node value, List<Node> block, int line) implements Node {}

    record Macro(String name, List<String> params, List<Node> defaults, List<Node> body, int line) implements Node {}

    /** {@code filter name(args)} ... {@code endfilter}: the body's output through a filter. */
    record FilterBlock(Node filter, List<Node> body, int line) implements Node {}

    record Break(int line) implements Node {}

    record Continue(int line) implements Node {}

    // ---------------------------------------------------------------- expressions

    record Literal(Object value, int line) implements Node {}

    record Name(String name, int line) implements Node {}

    record ListExpr(List<Node> items, int line) implements Node {}

    record DictExpr(List<Node> keys, List<Node> values, int line) implements Node {}

    record Attribute(Node target, String name, int line) implements Node {}

    record Subscript(Node target, Node index, int line) implements Node {}

    /** {@code target[start:stop:step]}, any part null when left out. */
    record Slice(Node target, Node start, Node stop, Node step, int line) implements Node {}

    record Call(Node callee, List<Node> args, List<String> kwNames, List<Node> kwValues, int line) implements Node {}

    /** {@code value | name(args)}; {@code value} null inside a filter block's head. */
    record Filter(Node value, String name, List<Node> args, List<String> kwNames, List<Node> kwValues, int line)
            implements Node {}

    record Test(Node value, String name, List<Node> args, boolean negated, int line) implements Node {}

    record Unary(String op, Node operand, int line) implements Node {}

    record Binary(String op, Node left, Node right, int line) implements Node {}

    /** A chain of two or more comparisons, {@code operands.size() == ops.size() + 1}. */
    record Compare(List<String> ops, List<Node> operands, int line) implements Node {}

    /** {@code then if condition else otherwise}; otherwise null when left out (undefined). */
    record Conditional(Node condition, Node then, Node otherwise, int line) implements Node {}
}
