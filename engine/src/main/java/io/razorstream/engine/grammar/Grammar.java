package io.razorstream.engine.grammar;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A context-free grammar over bytes, the language a constrained reply must stay inside: rules, each a list of
 * alternatives, each a sequence of elements (a byte class or a reference to a rule). Right recursion is how it repeats
 * (a rule referenced last in a sequence is a tail call, so a long string does not deepen the parser's stacks); left
 * recursion is not allowed. {@link #minLength} is the fewest bytes each rule can match, which lets a reply always be
 * closed within its token budget.
 */
public final class Grammar {
    /** One element of a sequence. */
    sealed interface Element permits ByteClass, Ref {
        /** The fewest bytes the element matches. */
        int minLength(int[] ruleMin);
    }

    /** A terminal: one byte out of a set. */
    record ByteClass(long[] bits) implements Element {
        boolean has(int b) {
            return (bits[b >>> 6] & (1L << (b & 63))) != 0;
        }

        @Override
        public int minLength(int[] ruleMin) {
            return 1;
        }

        static ByteClass of(int from, int to) {
            long[] bits = new long[4];
            for (int b = from; b <= to; b++) bits[b >>> 6] |= 1L << (b & 63);
            return new ByteClass(bits);
        }

        ByteClass union(ByteClass o) {
            long[] bits = new long[4];
            for (int i = 0; i < 4; i++) bits[i] = this.bits[i] | o.bits[i];
            return new ByteClass(bits);
        }

        ByteClass minus(int b) {
            long[] bits = this.bits.clone();
            bits[b >>> 6] &= ~(1L << (b & 63));
            return new ByteClass(bits);
        }
    }

    /** A reference to rule {@code rule}. */
    record Ref(int rule) implements Element {
        @Override
        public int minLength(int[] ruleMin) {
            return ruleMin[rule];
        }
    }

    final Element[][][] rules; // rule -> alternative -> sequence
    final int root;
    /** The fewest bytes from element {@code pos} of (rule, alternative) to the sequence's end. */
    final int[][][] suffixMin;

    private final String[] names;

    private Grammar(Element[][][] rules, String[] names, int root) {
        this.rules = rules;
        this.names = names;
        this.root = root;
        int[] ruleMin = minLengths(rules, names);
        this.suffixMin = new int[rules.length][][];
        for (int r = 0; r < rules.length; r++) {
            suffixMin[r] = new int[rules[r].length][];
            for (int a = 0; a < rules[r].length; a++) {
                Element[] seq = rules[r][a];
                int[] s = new int[seq.length + 1];
                for (int i = seq.length - 1; i >= 0; i--) s[i] = sat(s[i + 1] + seq[i].minLength(ruleMin));
                suffixMin[r][a] = s;
            }
        }
    }

    /** The fewest bytes a whole reply in this grammar has. */
    public int minLength() {
        int min = Integer.MAX_VALUE;
        for (int[] s : suffixMin[root]) min = Math.min(min, s[0]);
        return min;
    }

    /** Fixpoint of each rule's fewest bytes; a rule that matches nothing finite is a grammar bug. */
    private static int[] minLengths(Element[][][] rules, String[] names) {
        int[] min = new int[rules.length];
        Arrays.fill(min, Integer.MAX_VALUE);
        for (boolean changed = true; changed; ) {
            changed = false;
            for (int r = 0; r < rules.length; r++) {
                for (Element[] seq : rules[r]) {
                    int sum = 0;
                    for (Element e : seq) sum = sat(sum + (long) e.minLength(min));
                    if (sum < min[r]) {
                        min[r] = sum;
                        changed = true;
                    }
                }
            }
        }
        for (int r = 0; r < rules.length; r++) {
            if (min[r] == Integer.MAX_VALUE)
                throw new IllegalStateException("grammar rule '" + names[r] + "' matches nothing");
        }
        return min;
    }

    private static int sat(long v) {
        return (int) Math.min(v, Integer.MAX_VALUE);
    }

    /** Builds a grammar rule by rule; a rule may be referenced before it is defined. */
    public static final class Builder {
        private final Map<String, Integer> ids = new HashMap<>();
        private final List<String> names = new ArrayList<>();
        private final List<List<List<Element>>> rules = new ArrayList<>();

        /** The id of rule {@code name}, created empty on first use. */
        public int rule(String name) {
            return ids.computeIfAbsent(name, n -> {
                names.add(n);
                rules.add(null);
                return names.size() - 1;
            });
        }

        public boolean defined(String name) {
            return ids.containsKey(name) && rules.get(ids.get(name)) != null;
        }

        /** Defines rule {@code name} as these alternatives (each a sequence). */
        @SafeVarargs
        public final int define(String name, List<Element>... alternatives) {
            return define(name, List.of(alternatives));
        }

        public int define(String name, List<List<Element>> alternatives) {
            int id = rule(name);
            if (rules.get(id) != null) throw new IllegalStateException("rule '" + name + "' defined twice");
            rules.set(id, List.copyOf(alternatives));
            return id;
        }

        public Grammar build(String root) {
            Element[][][] out = new Element[rules.size()][][];
            for (int r = 0; r < rules.size(); r++) {
                if (rules.get(r) == null) throw new IllegalStateException("rule '" + names.get(r) + "' is not defined");
                out[r] = rules.get(r).stream()
                        .map(seq -> seq.toArray(new Element[0]))
                        .toArray(Element[][]::new);
            }
            return new Grammar(out, names.toArray(new String[0]), rule(root));
        }
    }

    // ---------------------------------------------------------------- elements

    /** A reference to rule {@code id}. */
    public static Element ref(int id) {
        return new Ref(id);
    }

    /** One byte in [from, to]. */
    public static Element range(int from, int to) {
        return ByteClass.of(from, to);
    }

    /** One byte out of {@code chars} (ASCII). */
    public static Element anyOf(String chars) {
        ByteClass c = ByteClass.of(1, 0);
        for (char ch : chars.toCharArray()) c = c.union(ByteClass.of(ch, ch));
        return c;
    }

    /** The UTF-8 bytes of {@code text}, one element each. */
    public static List<Element> literal(String text) {
        List<Element> out = new ArrayList<>();
        for (byte b : text.getBytes(java.nio.charset.StandardCharsets.UTF_8)) out.add(ByteClass.of(b & 0xff, b & 0xff));
        return out;
    }

    /** A sequence of elements and literal strings. */
    public static List<Element> seq(Object... parts) {
        List<Element> out = new ArrayList<>();
        for (Object p : parts) {
            if (p instanceof String s) out.addAll(literal(s));
            else if (p instanceof Element e) out.add(e);
            else if (p instanceof List<?> l) for (Object o : l) out.add((Element) o);
            else throw new IllegalArgumentException("not an element: " + p);
        }
        return out;
    }
}
