package io.razorstream.engine.grammar;

import io.razorstream.engine.tokenizer.Tokenizer;
import io.razorstream.engine.tokenizer.Vocabulary;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Keeps one reply inside a grammar, token by token: a token is allowed when its bytes continue the parse and the reply
 * can still be closed within the tokens left (every byte the shortest closing needs has a one-byte token), and
 * end-of-generation only when the parse is whole. So even a model with random weights ends with a reply the grammar
 * accepts (JSON that parses and validates), unless the budget was too small from the start.
 *
 * <p>The decode loop samples as usual and asks {@link #allows} about that one token; only when it is refused is the
 * whole vocabulary masked ({@link #mask}), walking a byte trie of the tokens' pieces with the parse so that shared
 * prefixes are parsed once. Masks are cached by parse state: inside a long string the state repeats.
 */
public final class GrammarConstraint {
    private static final Map<Tokenizer, TokenTrie> TRIES = new WeakHashMap<>();
    private static final int MASK_CACHE = 64;

    private final Tokenizer tokenizer;
    private final TokenTrie trie;
    private GrammarState state;
    private final Map<GrammarState, Mask> masks = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<GrammarState, Mask> e) {
            return size() > MASK_CACHE;
        }
    };

    /** The tokens that continue a state, and the fewest bytes still needed after each. */
    private record Mask(int[] tokens, int[] remainingAfter) {}

    public GrammarConstraint(Grammar grammar, Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        synchronized (TRIES) {
            this.trie = TRIES.computeIfAbsent(tokenizer, TokenTrie::new);
        }
        this.state = GrammarState.start(grammar);
    }

    /** Whether the reply so far is whole. */
    public boolean accepting() {
        return state.accepting();
    }

    /** Whether {@code token} may come next when at most {@code budget} tokens (this one included) are left. */
    public boolean allows(int token, int budget) {
        if (tokenizer.vocabulary().isEndOfGeneration(token)) return state.accepting();
        byte[] piece = tokenizer.piece(token);
        if (piece.length == 0) return false;
        GrammarState next = state.advance(piece);
        return next != null && next.minRemaining() <= budget - 1;
    }

    /** {@code logits} with every token {@link #allows} refuses set to minus infinity (a copy). */
    public float[] mask(float[] logits, int budget) {
        Mask m = masks.computeIfAbsent(state, this::computeMask);
        float[] out = new float[logits.length];
        Arrays.fill(out, Float.NEGATIVE_INFINITY);
        boolean any = false;
        for (int i = 0; i < m.tokens.length; i++) {
            if (m.remainingAfter[i] <= budget - 1) {
                out[m.tokens[i]] = logits[m.tokens[i]];
                any = true;
            }
        }
        if (state.accepting()) {
            for (int t : trie.endTokens) out[t] = logits[t];
            any |= trie.endTokens.length > 0;
        }
        if (!any) {
            throw new IllegalStateException("no token continues the constrained reply within its budget of " + budget
                    + " tokens (it needs at least " + state.minRemaining() + " more bytes)");
        }
        return out;
    }

    /** The reply goes on with {@code token} (one {@link #allows} allowed). */
    public void accept(int token) {
        if (tokenizer.vocabulary().isEndOfGeneration(token)) return;
        GrammarState next = state.advance(tokenizer.piece(token));
        if (next == null)
            throw new IllegalStateException("token " + token + " does not continue the constrained reply");
        state = next;
    }

    private Mask computeMask(GrammarState s) {
        List<int[]> found = new ArrayList<>();
        walk(trie.root, s, found);
        int[] tokens = new int[found.size()], after = new int[found.size()];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = found.get(i)[0];
            after[i] = found.get(i)[1];
        }
        return new Mask(tokens, after);
    }

    private static void walk(TokenTrie.Node node, GrammarState s, List<int[]> found) {
        for (int i = 0; i < node.bytes.length; i++) {
            GrammarState next = s.advance(node.bytes[i] & 0xff);
            if (next == null) continue;
            TokenTrie.Node child = node.children[i];
            for (int t : child.tokens) found.add(new int[] {t, next.minRemaining()});
            walk(child, next, found);
        }
    }

    /** The tokens' printed bytes as a trie, built once per tokenizer; end-of-generation tokens apart. */
    private static final class TokenTrie {
        static final class Node {
            byte[] bytes = new byte[0];
            Node[] children = new Node[0];
            int[] tokens = new int[0];

            Node child(byte b) {
                for (int i = 0; i < bytes.length; i++) if (bytes[i] == b) return children[i];
                bytes = Arrays.copyOf(bytes, bytes.length + 1);
                children = Arrays.copyOf(children, children.length + 1);
                bytes[bytes.length - 1] = b;
                return children[children.length - 1] = new Node();
            }
        }

        final Node root = new Node();
        final int[] endTokens;

        TokenTrie(Tokenizer tokenizer) {
            Vocabulary v = tokenizer.vocabulary();
            List<Integer> ends = new ArrayList<>();
            for (int id = 0; id < v.size(); id++) {
                if (v.isEndOfGeneration(id)) {
                    ends.add(id);
                    continue;
                }
                byte[] piece = tokenizer.piece(id);
                if (piece.length == 0) continue;
                Node n = root;
                for (byte b : piece) n = n.child(b);
                n.tokens = Arrays.copyOf(n.tokens, n.tokens.length + 1);
                n.tokens[n.tokens.length - 1] = id;
            }
            endTokens = ends.stream().mapToInt(Integer::intValue).toArray();
        }
    }
}
