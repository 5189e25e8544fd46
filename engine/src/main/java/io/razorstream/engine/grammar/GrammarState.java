package io.razorstream.engine.grammar;

import io.razorstream.engine.grammar.Grammar.ByteClass;
import io.razorstream.engine.grammar.Grammar.Element;
import io.razorstream.engine.grammar.Grammar.Ref;

import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Where a parse of a grammar stands after some bytes: every way the bytes so far can continue, each a stack whose top
 * is the byte class the next byte must match and whose lower frames say where to go on after each rule ends (the empty
 * stack: the reply may end here). Immutable; {@link #advance} gives the state after one more byte, or null when no way
 * goes on. Equal states (same stacks) are equal objects, so masks can be cached by state.
 */
public final class GrammarState {
    /** A limit on the ways a state keeps, against grammars that fan out (deep anyOf nests). */
    private static final int MAX_STACKS = 4096;

    /** Go on at element {@code pos} of (rule, alternative), then where {@code next} says. */
    record Frame(int rule, int alt, int pos, Frame next, int hash) {
        static Frame of(int rule, int alt, int pos, Frame next) {
            int h = ((rule * 31 + alt) * 31 + pos) * 31 + (next == null ? 0 : next.hash);
            return new Frame(rule, alt, pos, next, h);
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) return true;
            if (!(o instanceof Frame f) || f.hash != hash) return false;
            return f.rule == rule && f.alt == alt && f.pos == pos && java.util.Objects.equals(f.next, next);
        }
    }

    /** The empty stack: the reply may end. */
    private static final Frame END = Frame.of(-1, -1, -1, null);

    private final Grammar grammar;
    private final Frame[] stacks;
    private final int hash;
    private final int minRemaining;
    private final boolean accepting;

    private GrammarState(Grammar grammar, Frame[] stacks) {
        this.grammar = grammar;
        this.stacks = stacks;
        this.hash = Arrays.hashCode(stacks);
        int min = Integer.MAX_VALUE;
        boolean end = false;
        for (Frame f : stacks) {
            if (f == END) end = true;
            min = Math.min(min, remaining(grammar, f));
        }
        this.minRemaining = min;
        this.accepting = end;
    }

    /** The state before any byte. */
    public static GrammarState start(Grammar g) {
        Set<Frame> out = new LinkedHashSet<>();
        for (int a = 0; a < g.rules[g.root].length; a++) expand(g, g.root, a, 0, null, out, 0);
        return new GrammarState(g, out.toArray(new Frame[0]));
    }

    /** The state after byte {@code b}, or null when the grammar does not allow it here. */
    public GrammarState advance(int b) {
        Set<Frame> out = new LinkedHashSet<>();
        for (Frame f : stacks) {
            if (f == END) continue;
            ByteClass c = (ByteClass) grammar.rules[f.rule][f.alt][f.pos];
            if (c.has(b)) expand(grammar, f.rule, f.alt, f.pos + 1, f.next, out, 0);
        }
        if (out.isEmpty()) return null;
        if (out.size() > MAX_STACKS) {
            throw new IllegalStateException("the grammar is too ambiguous here (" + out.size() + " parses at once)");
        }
        return new GrammarState(grammar, out.toArray(new Frame[0]));
    }

    /** The state after {@code bytes}, or null. */
    public GrammarState advance(byte[] bytes) {
        GrammarState s = this;
        for (int i = 0; i < bytes.length && s != null; i++) s = s.advance(bytes[i] & 0xff);
        return s;
    }

    /** Whether the bytes so far are a whole reply of the grammar. */
    public boolean accepting() {
        return accepting;
    }

    /** The fewest bytes that make the bytes so far a whole reply (0 when {@link #accepting}). */
    public int minRemaining() {
        return minRemaining;
    }

    /** Puts in {@code out} the stacks for going on at element {@code pos} of (rule, alt), then at {@code next}. */
    private static void expand(Grammar g, int rule, int alt, int pos, Frame next, Set<Frame> out, int depth) {
        if (depth > 10_000) throw new IllegalStateException("the grammar recurses without consuming a byte");
        Element[] seq = g.rules[rule][alt];
        if (pos == seq.length) {
            if (next == null) out.add(END);
            else expand(g, next.rule, next.alt, next.pos, next.next, out, depth + 1);
            return;
        }
        Element e = seq[pos];
        if (e instanceof ByteClass) {
            out.add(Frame.of(rule, alt, pos, next));
            return;
        }
        int called = ((Ref) e).rule();
        // a rule called last in its sequence returns straight to the caller's caller: repetition by right recursion
        // keeps stacks flat
        Frame after = pos + 1 == seq.length ? next : Frame.of(rule, alt, pos + 1, next);
        for (int a = 0; a < g.rules[called].length; a++) expand(g, called, a, 0, after, out, depth + 1);
    }

    private static int remaining(Grammar g, Frame f) {
        long sum = 0;
        for (Frame x = f; x != null && x != END; x = x.next) sum += g.suffixMin[x.rule][x.alt][x.pos];
        return (int) Math.min(sum, Integer.MAX_VALUE);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GrammarState s && s.hash == hash && s.grammar == grammar && Arrays.equals(s.stacks, stacks);
    }
}
