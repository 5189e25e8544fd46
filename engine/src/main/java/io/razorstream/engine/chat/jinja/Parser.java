package io.razorstream.engine.chat.jinja;

import io.razorstream.engine.chat.jinja.Lexer.Kind;
import io.razorstream.engine.chat.jinja.Lexer.Token;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Recursive descent over the lexer's tokens, with Jinja2's operator precedence (lowest first): conditional, or, and,
 * not, comparisons and {@code in}, {@code + -}, {@code ~}, {@code * / // %}, {@code **}, unary minus, then primaries
 * with their attributes, subscripts, calls, filters and tests.
 */
final class Parser {
    private static final Set<String> COMPARISONS = Set.of("==", "!=", "<", ">", "<=", ">=");

    private final List<Token> tokens;
    private int at;

    private Parser(List<Token> tokens) {
        this.tokens = tokens;
    }

    static List<Node> parse(String source) {
        Parser p = new Parser(Lexer.tokenize(source));
        List<Node> body = p.body(Set.of());
        if (p.peek().kind() != Kind.EOF) throw p.error("unexpected '" + p.peek().text() + "'");
        return body;
    }

    // ---------------------------------------------------------------- statements

    /** Statements up to (not including) a block tag named in {@code ends}, or the end. */
    private List<Node> body(Set<String> ends) {
        List<Node> nodes = new ArrayList<>();
        while (true) {
            Token t = peek();
            switch (t.kind()) {
                case EOF -> {
                    if (!ends.isEmpty()) throw error("missing {% " + String.join(" / ", ends) + " %}");
                    return nodes;
                }
                case TEXT -> nodes.add(new Node.Text(next().text(), t.line()));
                case VAR_BEGIN -> {
                    next();
                    Node e = expression();
                    expect(Kind.VAR_END, "}}");
                    nodes.add(new Node.Output(e, t.line()));
                }
                case BLOCK_BEGIN -> {
                    Token name = tokens.get(at + 1);
                    if (name.kind() == Kind.NAME && ends.contains(name.text())) return nodes;
                    next();
                    nodes.add(statement());
                }
                default -> throw error("unexpected '" + t.text() + "'");
            }
        }
    }

    private Node statement() {
        Token keyword = next();
        if (keyword.kind() != Kind.NAME) throw error("expected a statement name");
        int line = keyword.line();
        switch (keyword.text()) {
            case "if":
                return ifStatement(line);
            case "for":
                return forStatement(line);
            case "set":
                return setStatement(line);
            case "macro":
                return macro(line);
            case "filter": {
                Node filter = filterCall(null);
                endTag();
                List<Node> body = body(Set.of("endfilter"));
                closeBlock("endfilter");
                return new Node.FilterBlock(filter, body, line);
            }
            case "break":
                endTag();
                return new Node.Break(line);
            case "continue":
                endTag();
                return new Node.Continue(line);
            case "generation": {
                // Hugging Face's marker of the assistant's tokens (for training masks): renders its body as it is.
                endTag();
                List<Node> body = body(Set.of("endgeneration"));
                closeBlock("endgeneration");
                return new Node.If(List.of(new Node.Literal(true, line)), List.of(body), List.of(), line);
            }
            default:
                throw new JinjaException("unknown tag '" + keyword.text() + "'", line);
        }
    }

    private Node ifStatement(int line) {
        List<Node> conditions = new ArrayList<>();
        List<List<Node>> bodies = new ArrayList<>();
        List<Node> orElse = List.of();
        conditions.add(expression());
        endTag();
        while (true) {
            bodies.add(body(Set.of("elif", "else", "endif")));
            next(); // {%
            String tag = next().text();
            if (tag.equals("elif")) {
                conditions.add(expression());
                endTag();
            } else if (tag.equals("else")) {
                endTag();
                orElse = body(Set.of("endif"));
                closeBlock("endif");
                break;
            } else {
                endTag();
                break;
            }
        }
        return new Node.If(conditions, bodies, orElse, line);
    }

    private Node forStatement(int line) {
        List<String> targets = new ArrayList<>();
        do targets.add(name());
        while (accept(","));
        expectName("in");
        Node iterable = orExpression(); // 'if' here filters the loop, it does not open a conditional
        Node filter = null;
        if (peek().isName("if")) {
            next();
            filter = expression();
        }
        if (peek().isName("recursive")) throw error("recursive loops are not supported");
        endTag();
        List<Node> body = body(Set.of("else", "endfor"));
        List<Node> orElse = List.of();
        next();
        if (next().text().equals("else")) {
            endTag();
            orElse = body(Set.of("endfor"));
            closeBlock("endfor");
        } else {
            endTag();
        }
        return new Node.For(targets, iterable, filter, body, orElse, line);
    }

    private Node setStatement(int line) {
        List<String> targets = new ArrayList<>();
        String attribute = null;
        targets.add(name());
        if (accept(".")) {
            attribute = name();
        } else {
            while (accept(",")) targets.add(name());
        }
        if (peek().kind() == Kind.BLOCK_END && attribute == null && targets.size() == 1) {
            endTag();
            List<Node> block = body(Set.of("endset"));
            closeBlock("endset");
            return new Node.Set(targets, null, null, block, line);
        }
        expectOp("=");
        Node value = expression();
        if (peek().isOp(",")) { // set a = 1, 2 makes a tuple
            List<Node> items = new ArrayList<>(List.of(value));
            while (accept(",")) items.add(expression());
            value = new Node.ListExpr(items, line);
        }
        endTag();
        return new Node.Set(targets, attribute, value, null, line);
    }

    private Node macro(int line) {
        String name = name();
        List<String> params = new ArrayList<>();
        List<Node> defaults = new ArrayList<>();
        expectOp("(");
        while (!accept(")")) {
            params.add(name());
            defaults.add(accept("=") ? expression() : null);
            if (!peek().isOp(")")) expectOp(",");
        }
        endTag();
        List<Node> body = body(Set.of("endmacro"));
        closeBlock("endmacro");
        return new Node.Macro(name, params, defaults, body, line);
    }

    private void closeBlock(String name) {
        expect(Kind.BLOCK_BEGIN, "{%");
        expectName(name);
        endTag();
    }

    private void endTag() {
        expect(Kind.BLOCK_END, "%}");
    }

    // ---------------------------------------------------------------- expressions

    Node expression() {
        Node then = orExpression();
        while (peek().isName("if")) {
            int line = next().line();
            Node condition = orExpression();
            Node otherwise = null;
            if (peek().isName("else")) {
                next();
                otherwise = expression();
            }
            then = new Node.Conditional(condition, then, otherwise, line);
        }
        return then;
    }

    private Node orExpression() {
        Node left = andExpression();
        while (peek().isName("or")) {
            int line = next().line();
            left = new Node.Binary("or", left, andExpression(), line);
        }
        return left;
    }

    private Node andExpression() {
        Node left = notExpression();
        while (peek().isName("and")) {
            int line = next().line();
            left = new Node.Binary("and", left, notExpression(), line);
        }
        return left;
    }

    private Node notExpression() {
        if (peek().isName("not")) {
            int line = next().line();
            return new Node.Unary("not", notExpression(), line);
        }
        return comparison();
    }

    /** Comparisons chain as in Python: {@code a < b < c} is {@code a < b and b < c}, b evaluated once. */
    private Node comparison() {
        Node first = sum();
        List<String> ops = new ArrayList<>();
        List<Node> operands = new ArrayList<>(List.of(first));
        while (true) {
            Token t = peek();
            if (t.kind() == Kind.OP && COMPARISONS.contains(t.text())) {
                next();
                ops.add(t.text());
            } else if (t.isName("in")) {
                next();
                ops.add("in");
            } else if (t.isName("not") && tokens.get(at + 1).isName("in")) {
                next();
                next();
                ops.add("not in");
            } else {
                break;
            }
            operands.add(sum());
        }
        if (ops.isEmpty()) return first;
        if (ops.size() == 1) return new Node.Binary(ops.get(0), first, operands.get(1), first.line());
        return new Node.Compare(ops, operands, first.line());
    }

    private Node sum() {
        Node left = concat();
        while (peek().isOp("+") || peek().isOp("-")) {
            Token op = next();
            left = new Node.Binary(op.text(), left, concat(), op.line());
        }
        return left;
    }

    private Node concat() {
        Node left = product();
        while (peek().isOp("~")) {
            int line = next().line();
            left = new Node.Binary("~", left, product(), line);
        }
        return left;
    }

    private Node product() {
        Node left = power();
        while (peek().isOp("*") || peek().isOp("/") || peek().isOp("//") || peek().isOp("%")) {
            Token op = next();
            left = new Node.Binary(op.text(), left, power(), op.line());
        }
        return left;
    }

    private Node power() {
        Node left = unary(true);
        while (peek().isOp("**")) {
            int line = next().line();
            left = new Node.Binary("**", left, unary(true), line);
        }
        return left;
    }

    /** As Jinja2: a sign applies to the operand before its filters, and the filters then to the signed value. */
    private Node unary(boolean withFilters) {
        Node node;
        if (peek().isOp("-") || peek().isOp("+")) {
            Token op = next();
            node = new Node.Unary(op.text(), unary(false), op.line());
        } else {
            node = postfix(primary());
        }
        return withFilters ? filtersAndTests(node) : node;
    }

    private Node primary() {
        Token t = next();
        int line = t.line();
        switch (t.kind()) {
            case STRING: {
                StringBuilder sb = new StringBuilder(t.text()); // adjacent literals join, as in Python
                while (peek().kind() == Kind.STRING) sb.append(next().text());
                return new Node.Literal(sb.toString(), line);
            }
            case INT:
                return new Node.Literal(Long.parseLong(t.text()), line);
            case FLOAT:
                return new Node.Literal(Double.parseDouble(t.text()), line);
            case NAME:
                return switch (t.text()) {
                    case "true", "True" -> new Node.Literal(true, line);
                    case "false", "False" -> new Node.Literal(false, line);
                    case "none", "None" -> new Node.Literal(null, line);
                    default -> new Node.Name(t.text(), line);
                };
            case OP:
                switch (t.text()) {
                    case "(": {
                        if (accept(")")) return new Node.ListExpr(List.of(), line);
                        Node first = expression();
                        if (!peek().isOp(",")) {
                            expectOp(")");
                            return first;
                        }
                        List<Node> items = new ArrayList<>(List.of(first));
                        while (accept(",") && !peek().isOp(")")) items.add(expression());
                        expectOp(")");
                        return new Node.ListExpr(items, line);
                    }
                    case "[": {
                        List<Node> items = new ArrayList<>();
                        while (!accept("]")) {
                            items.add(expression());
                            if (!peek().isOp("]")) expectOp(",");
                        }
                        return new Node.ListExpr(items, line);
                    }
                    case "{": {
                        List<Node> keys = new ArrayList<>(), values = new ArrayList<>();
                        while (!accept("}")) {
                            keys.add(expression());
                            expectOp(":");
                            values.add(expression());
                            if (!peek().isOp("}")) expectOp(",");
                        }
                        return new Node.DictExpr(keys, values, line);
                    }
                    default:
                }
            // fall through
            default:
                throw new JinjaException("unexpected '" + t.text() + "'", line);
        }
    }

    private Node postfix(Node node) {
        while (true) {
            Token t = peek();
            if (t.isOp(".")) {
                next();
                Token n = next();
                if (n.kind() != Kind.NAME && n.kind() != Kind.INT) throw error("expected an attribute name");
                node = n.kind() == Kind.INT
                        ? new Node.Subscript(node, new Node.Literal(Long.parseLong(n.text()), n.line()), n.line())
                        : new Node.Attribute(node, n.text(), n.line());
            } else if (t.isOp("[")) {
                next();
                node = subscript(node, t.line());
            } else if (t.isOp("(")) {
                next();
                node = call(node, t.line());
            } else {
                return node;
            }
        }
    }

    private Node subscript(Node target, int line) {
        Node start = null, stop = null, step = null;
        if (!peek().isOp(":")) {
            start = expression();
            if (accept("]")) return new Node.Subscript(target, start, line);
        }
        expectOp(":");
        if (!peek().isOp(":") && !peek().isOp("]")) stop = expression();
        if (accept(":") && !peek().isOp("]")) step = expression();
        expectOp("]");
        return new Node.Slice(target, start, stop, step, line);
    }

    private Node call(Node callee, int line) {
        List<Node> args = new ArrayList<>(), kwValues = new ArrayList<>();
        List<String> kwNames = new ArrayList<>();
        arguments(args, kwNames, kwValues);
        return new Node.Call(callee, args, kwNames, kwValues, line);
    }

    /** After '(': positional and keyword arguments, through ')'. */
    private void arguments(List<Node> args, List<String> kwNames, List<Node> kwValues) {
        while (!accept(")")) {
            if (peek().kind() == Kind.NAME && tokens.get(at + 1).isOp("=")) {
                kwNames.add(next().text());
                next();
                kwValues.add(expression());
            } else {
                args.add(expression());
            }
            if (!peek().isOp(")")) expectOp(",");
        }
    }

    private Node filtersAndTests(Node node) {
        while (true) {
            if (peek().isOp("|")) {
                next();
                node = filterCall(node);
            } else if (peek().isName("is")) {
                int line = next().line();
                boolean negated = false;
                if (peek().isName("not")) {
                    next();
                    negated = true;
                }
                Token name = next();
                if (name.kind() != Kind.NAME) throw error("expected a test name");
                String test = name.text();
                List<Node> args = new ArrayList<>();
                if (peek().isOp("(")) {
                    next();
                    List<String> kw = new ArrayList<>();
                    List<Node> kv = new ArrayList<>();
                    arguments(args, kw, kv);
                } else if (startsOperand(peek())) {
                    args.add(postfix(primary())); // 'is divisibleby 3', 'is sameas none'
                }
                node = postfix(new Node.Test(node, test, args, negated, line));
            } else {
                return node;
            }
        }
    }

    private static boolean startsOperand(Token t) {
        return switch (t.kind()) {
            case STRING, INT, FLOAT -> true;
            case NAME -> !Set.of("and", "or", "if", "else", "in", "not", "is").contains(t.text());
            case OP -> t.text().equals("[") || t.text().equals("{");
            default -> false;
        };
    }

    private Node filterCall(Node value) {
        Token name = next();
        if (name.kind() != Kind.NAME) throw error("expected a filter name");
        String filter = name.text();
        while (accept(".")) filter += "." + name(); // dotted filter names
        List<Node> args = new ArrayList<>(), kwValues = new ArrayList<>();
        List<String> kwNames = new ArrayList<>();
        if (accept("(")) arguments(args, kwNames, kwValues);
        return postfix(new Node.Filter(value, filter, args, kwNames, kwValues, name.line()));
    }

    // ---------------------------------------------------------------- tokens

    private Token peek() {
        return tokens.get(at);
    }

    private Token next() {
        return tokens.get(at++);
    }

    private boolean accept(String op) {
        if (!peek().isOp(op)) return false;
        at++;
        return true;
    }

    private String name() {
        Token t = next();
        if (t.kind() != Kind.NAME) throw new JinjaException("expected a name, found '" + t.text() + "'", t.line());
        return t.text();
    }

    private void expect(Kind kind, String what) {
        Token t = next();
        if (t.kind() != kind) throw new JinjaException("expected '" + what + "', found '" + t.text() + "'", t.line());
    }

    private void expectOp(String op) {
        Token t = next();
        if (!t.isOp(op)) throw new JinjaException("expected '" + op + "', found '" + t.text() + "'", t.line());
    }

    private void expectName(String name) {
        Token t = next();
        if (!t.isName(name)) throw new JinjaException("expected '" + name + "', found '" + t.text() + "'", t.line());
    }

    private JinjaException error(String message) {
        return new JinjaException(message, peek().line());
    }
}
