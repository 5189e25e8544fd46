package io.razorstream.engine.attention;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The KV cache of one sequence, per (layer, KV head) as its {@link KvPolicy} says: a FULL head keeps the post-RoPE key
 * and value of every position ({@code headSize} floats each, contiguous per head, growing by doubling up to
 * {@code maxTokens}); a WINDOW head is a {@link WindowHead} (sinks, rolling window, compensation token), which the
 * model appends to token by token as it attends. Its growth, writes and raw views ({@link #reserve}, {@link #put},
 * {@link #advance}, {@link #keys}, ...) are the transformer's: other code reads sizes, restores from storage and
 * clears.
 */
public final class KvCache {
    private final int layers;
    private final int kvHeads;
    private final int headSize;
    private final int maxTokens;
    private final KvPrecision precision;
    private final float[][][] keys; // [layer][kv head][position * headSize + i]
    private final float[][][] values;
    /** The native attention's views of keys and values, made on first use after each growth. */
    private final MemorySegment[][] keySegments, valueSegments;

    private KvPolicy policy;
    /** The policy the cache was made with (a shift changes {@link #policy}; {@link #clear} goes back to this one). */
    private final KvPolicy initialPolicy;

    private final CompressedHead[][] compressedHeads; // [layer][kv head], null for FULL heads
    private final int[][] compressedKvHeads; // [layer]: the KV heads that are not FULL
    private int capacity;
    /** Tokens appended ever (the policy's N); the next token's RoPE position is size - positionOffset. */
    private int size;
    /** Positions given back by context shifts, and how many shifts there were. */
    private int positionOffset, shifts;
    /** The turn marks, newest first (see {@link #mark}). */
    private final ArrayDeque<Mark> marks = new ArrayDeque<>();

    private long promptEnd = -1;
    private AttentionObserver observer;
    private FaultInjector faults;

    /**
     * Fault injection (tests, failure drills): called before a position's keys and values are stored; what it throws
     * fails the pass for this cache's sequence only.
     */
    @FunctionalInterface
    public interface FaultInjector {
        void beforePut(int layer, int position);
    }

    public KvCache(CacheShape shape, int maxTokens, KvPrecision precision) {
        this(shape, maxTokens, precision, KvPolicy.full(shape.layers(), shape.kvHeads()));
    }

    /**
     * A cache whose heads follow {@code requested}, with the model's sliding-window layers as the model defines them
     * ({@link KvPolicy#withSlidingLayers}).
     */
    public KvCache(CacheShape shape, int maxTokens, KvPrecision precision, KvPolicy requested) {
        if (maxTokens <= 0) throw new IllegalArgumentException("maxTokens must be positive");
        if (requested.layers() != shape.layers() || requested.kvHeads() != shape.kvHeads()) {
            throw new IllegalArgumentException("policy is for " + requested.layers() + " layers x "
                    + requested.kvHeads() + " KV heads, the model has " + shape.layers() + " x " + shape.kvHeads());
        }
        KvPolicy policy = requested.withSlidingLayers(shape.slidingLayers(), shape.slidingSize());
        this.policy = policy;
        this.layers = shape.layers();
        this.kvHeads = shape.kvHeads();
        this.headSize = shape.headSize();
        this.maxTokens = maxTokens;
        this.precision = precision;
        this.capacity = Math.min(maxTokens, 256);
        this.keys = new float[layers][kvHeads][];
        this.values = new float[layers][kvHeads][];
        this.keySegments = new MemorySegment[layers][kvHeads];
        this.valueSegments = new MemorySegment[layers][kvHeads];
        this.compressedHeads = new CompressedHead[layers][kvHeads];
        this.compressedKvHeads = new int[layers][];
        this.initialPolicy = policy;
        install(policy);
    }

    /** The heads of {@code policy}, empty: FULL heads' storage at the current capacity, the others new. */
    private void install(KvPolicy policy) {
        this.policy = policy;
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                boolean full = policy.isFull(l, h);
                keys[l][h] = new float[full ? capacity * headSize : 0];
                values[l][h] = new float[full ? capacity * headSize : 0];
                keySegments[l][h] = valueSegments[l][h] = null;
                compressedHeads[l][h] = policy.spec(l, h).newHead(headSize);
            }
            int layer = l;
            compressedKvHeads[l] = IntStream.range(0, kvHeads)
                    .filter(h -> !policy.isFull(layer, h))
                    .toArray();
        }
    }

    public KvPolicy policy() {
        return policy;
    }

    /** Reports the attention probabilities of the forward passes that run on this cache (profiling). */
    public void observe(AttentionObserver observer) {
        this.observer = observer;
    }

    public AttentionObserver observer() {
        return observer;
    }

    /** Installs (or with null removes) a {@link FaultInjector}. */
    public void injectFaults(FaultInjector faults) {
        this.faults = faults;
    }

    /** The compressed head at (layer, kvHead), or null when that head is FULL. */
    public CompressedHead compressed(int layer, int kvHead) {
        return compressedHeads[layer][kvHead];
    }

    /** The prompt has ended: heads that compress once at that point (SnapKV) do so now; the others ignore it. */
    public void compressNow() {
        if (promptEnd < 0) promptEnd = size;
        for (CompressedHead[] row : compressedHeads) for (CompressedHead h : row) if (h != null) h.endPrompt();
    }

    /** Where {@link #compressNow} was first called (the prompt's length), or -1. */
    public long promptEnd() {
        return promptEnd;
    }

    /** The KV heads of {@code layer} that keep only part of the sequence (not FULL). */
    int[] compressedKvHeads(int layer) {
        return compressedKvHeads[layer];
    }

    /** Tokens appended to this cache, ever (what the policy's sizes are computed from). */
    public int size() {
        return size;
    }

    /**
     * The next token's position: {@link #size} less the positions context shifts gave back; always below
     * {@link #maxTokens}.
     */
    public int position() {
        return size - positionOffset;
    }

    /** Positions context shifts gave back (tokens folded out of every head's range), and the number of shifts. */
    public int positionOffset() {
        return positionOffset;
    }

    public int shifts() {
        return shifts;
    }

    /**
     * Sinks a context shift keeps in place: StreamingLLM's four attention sinks, or the heads' own
     * ({@link HeadSpec#shiftSinks}) if they keep more.
     */
    public int shiftSinks() {
        int sinks = 4;
        for (int l = 0; l < layers; l++)
            for (int h = 0; h < kvHeads; h++)
                sinks = Math.max(sinks, policy.spec(l, h).shiftSinks());
        return sinks;
    }

    /**
     * Whether {@link #shift} can run with {@code sinks} sinks: every head's spec says it can
     * ({@link HeadSpec#canShift}: FULL, a window of at most that many sinks; the baselines' heads cannot).
     */
    public boolean canShift(int sinks) {
        for (int l = 0; l < layers; l++)
            for (int h = 0; h < kvHeads; h++) if (!policy.spec(l, h).canShift(sinks)) return false;
        return true;
    }

    /**
     * Context shift, for a sequence that would outgrow the model's context: {@code discard} positions after the first
     * {@code sinks} are given back. Every head then keeps at most the {@code position - discard - sinks} most recent
     * tokens besides its sinks: a FULL head becomes a window head of exactly that many (its sinks, the recent run and a
     * compensation token for the rest, RazorAttention's mechanism), window heads get that cap; what falls out is folded
     * into the compensation sums, and the kept keys (and key sums) are re-rotated by {@code -discard} with
     * {@code rotation}, as llama.cpp's context shift re-rotates its cache. The policy changes accordingly (so do the
     * sizes it computes); marks are dropped (a shift cannot be taken back). Heads that evict by attention refuse. Each
     * head's spec says what it becomes ({@link HeadSpec#shifted}), the head does the rest
     * ({@link CompressedHead#shift}).
     */
    public void shift(int discard, int sinks, KeyRotation rotation) {
        int position = position(), keep = position - discard - sinks;
        if (discard < 1 || sinks < 0 || keep < 1) {
            throw new IllegalArgumentException(
                    "cannot shift " + discard + " of " + position + " positions keeping " + sinks + " sinks");
        }
        if (!canShift(sinks))
            throw new IllegalStateException(
                    "only FULL heads and windows of at most " + sinks + " sinks can be shifted");
        HeadSpec[][] specs = new HeadSpec[layers][kvHeads];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                specs[l][h] = policy.spec(l, h).shifted(sinks, keep);
                CompressedHead head = compressedHeads[l][h];
                if (head == null) {
                    // A FULL head: replayed into the head it becomes (a window head of `keep` recent tokens), which
                    // folds the rest as it goes.
                    head = specs[l][h].newHead(headSize);
                    if (head == null)
                        throw new IllegalStateException(
                                specs[l][h].label() + ": a shifted head must keep only part of the sequence");
                    for (int p = 0; p < size; p++) {
                        head.append(keys[l][h], p * headSize, values[l][h], p * headSize);
                        head.endToken();
                    }
                    keys[l][h] = values[l][h] = new float[0];
                    keySegments[l][h] = valueSegments[l][h] = null;
                }
                head.shift(keep, rotation, l, precision);
                compressedHeads[l][h] = head;
            }
            compressedKvHeads[l] = IntStream.range(0, kvHeads).toArray();
        }
        policy = new KvPolicy(specs);
        positionOffset += discard;
        shifts++;
        marks.clear();
    }

    /** A turn mark: the cache's size and prompt end there (the window heads keep the rest, {@link WindowUndo}). */
    public record Mark(int tokens, long promptEnd) {}

    /**
     * Marks a turn boundary: {@link #rollback} can take back, exactly, what is appended after any of the last
     * {@code keep} marks. FULL heads only need their length; window heads keep undo records (the entries a turn evicts
     * and the compensation sums before it). Fails for heads that evict by attention (the baselines).
     */
    public void mark(int keep) {
        if (keep < 1) throw new IllegalArgumentException("keep must be >= 1");
        if (!canMark())
            throw new UnsupportedOperationException(
                    "this cache has heads that evict by attention: it cannot take turns back");
        for (CompressedHead[] row : compressedHeads) for (CompressedHead h : row) if (h != null) h.mark(keep);
        marks.addFirst(new Mark(size, promptEnd));
        while (marks.size() > keep) marks.removeLast();
    }

    /**
     * Whether {@link #mark} works: every head is FULL or can undo ({@link CompressedHead#canUndo}: window heads; heads
     * that evict by attention cannot).
     */
    public boolean canMark() {
        for (CompressedHead[] row : compressedHeads)
            for (CompressedHead h : row) if (h != null && !h.canUndo()) return false;
        return true;
    }

    /** Marks that {@link #rollback} can still return to. */
    public int marks() {
        return marks.size();
    }

    /** The marks {@link #rollback} can return to, oldest first. */
    public List<Mark> markList() {
        return List.copyOf(marks.reversed());
    }

    /**
     * Takes back everything appended since the {@code turns}-th latest mark: the cache is then as it was there, bit for
     * bit.
     */
    public void rollback(int turns) {
        if (turns < 1 || turns > marks.size()) {
            throw new IllegalArgumentException(
                    "cannot roll back " + turns + " turns: " + marks.size() + " can be taken back");
        }
        for (int i = 0; i < turns; i++) {
            Mark m = marks.removeFirst();
            size = m.tokens();
            promptEnd = m.promptEnd();
            for (CompressedHead[] row : compressedHeads) for (CompressedHead h : row) if (h != null) h.rollback();
        }
    }

    /**
     * Restoring from storage, last step: the marks (oldest first) of a cache restored as it is now, whose compressed
     * heads got their undo records back ({@link CompressedHead#readUndo}), one per mark.
     */
    public void restoreMarks(List<Mark> oldestFirst) {
        int last = -1;
        for (Mark m : oldestFirst) {
            if (m.tokens() < last || m.tokens() > size || m.promptEnd() < -1 || m.promptEnd() > m.tokens()) {
                throw new IllegalArgumentException(
                        "mark at " + m.tokens() + " tokens (prompt end " + m.promptEnd() + ") in a cache of " + size);
            }
            last = m.tokens();
        }
        for (CompressedHead[] row : compressedHeads) {
            for (CompressedHead h : row) {
                if (h == null) continue;
                if (!h.canUndo() || h.undoMarks() != oldestFirst.size()) {
                    throw new IllegalArgumentException(
                            "a head has " + h.undoMarks() + " undo records for " + oldestFirst.size() + " marks");
                }
            }
        }
        marks.clear();
        for (Mark m : oldestFirst) marks.addFirst(m);
    }

    /**
     * What the undo records of the marks keep, at the cache's precision (as the store holds them): evicted entries and
     * compensation sums.
     */
    public long undoBytes() {
        return undoBytes(vectorBytes());
    }

    private long undoBytes(int vectorBytes) {
        long bytes = 0;
        for (CompressedHead[] row : compressedHeads)
            for (CompressedHead h : row) if (h != null) bytes += h.undoBytes(vectorBytes);
        return bytes;
    }

    public int maxTokens() {
        return maxTokens;
    }

    public KvPrecision precision() {
        return precision;
    }

    /** Makes room for {@code more} positions after the current ones. */
    public void reserve(int more) {
        if (position() + more > maxTokens) {
            throw new IllegalStateException(
                    "context full: " + position() + " + " + more + " tokens exceed the limit of " + maxTokens);
        }
        int need =
                size + more; // FULL heads' storage (they exist only while no shift has happened: size is the position)
        if (need <= capacity) return;
        // A quarter more (at least 256 positions), not double: a long session's spare room is heap that the
        // hot-sessions
        // budget pays for (a 16.7k-token session held 33k positions), and copying a quarter more each time is still
        // linear.
        int newCapacity = Math.min(maxTokens, Math.max(need, capacity + Math.max(capacity / 4, 256)));
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                if (compressedHeads[l][h] != null) continue;
                keys[l][h] = Arrays.copyOf(keys[l][h], newCapacity * headSize);
                values[l][h] = Arrays.copyOf(values[l][h], newCapacity * headSize);
                keySegments[l][h] = valueSegments[l][h] = null;
            }
        }
        capacity = newCapacity;
    }

    /**
     * Stores one position's keys and values (all KV heads side by side, as projected) for a layer's FULL heads; WINDOW
     * heads take theirs in {@link WindowHead#append} as the model attends.
     */
    void put(int layer, int position, float[] k, float[] v) {
        if (faults != null) faults.beforePut(layer, position);
        int base = position * headSize;
        for (int h = 0; h < kvHeads; h++) {
            if (compressedHeads[layer][h] != null) continue;
            float[] kd = keys[layer][h], vd = values[layer][h];
            int src = h * headSize;
            precision.round(k, src, kd, base, headSize);
            precision.round(v, src, vd, base, headSize);
        }
    }

    /** Marks {@code n} more positions as filled (after their {@link #put} calls for every layer). */
    public void advance(int n) {
        size += n;
    }

    /** One KV head's keys: position p at [p * headSize, (p + 1) * headSize). */
    float[] keys(int layer, int kvHead) {
        return keys[layer][kvHead];
    }

    float[] values(int layer, int kvHead) {
        return values[layer][kvHead];
    }

    /** {@link #keys} as a segment for the native attention, made once per capacity. */
    MemorySegment keySegment(int layer, int kvHead) {
        MemorySegment s = keySegments[layer][kvHead];
        if (s == null) keySegments[layer][kvHead] = s = MemorySegment.ofArray(keys[layer][kvHead]);
        return s;
    }

    MemorySegment valueSegment(int layer, int kvHead) {
        MemorySegment s = valueSegments[layer][kvHead];
        if (s == null) valueSegments[layer][kvHead] = s = MemorySegment.ofArray(values[layer][kvHead]);
        return s;
    }

    /** Copies a FULL head's key and value at {@code position} (for the state store). */
    public void readFull(int layer, int kvHead, int position, float[] k, int kOff, float[] v, int vOff) {
        if (compressedHeads[layer][kvHead] != null)
            throw new IllegalArgumentException("(" + layer + ", " + kvHead + ") is not a FULL head");
        if (position < 0 || position >= size)
            throw new IndexOutOfBoundsException("position " + position + " of " + size);
        System.arraycopy(keys[layer][kvHead], position * headSize, k, kOff, headSize);
        System.arraycopy(values[layer][kvHead], position * headSize, v, vOff, headSize);
    }

    /**
     * Restoring from storage, step 1: an empty cache becomes {@code tokens} long, its prompt having ended at
     * {@code promptEnd} (-1: not yet); then every FULL head's positions are written with {@link #writeFull} and every
     * other head is set with {@link #restoreHead}.
     */
    public void restoreLength(int tokens, long promptEnd, int positionOffset, int shifts) {
        if (size != 0)
            throw new IllegalStateException("restore into an empty cache only (this one holds " + size + " tokens)");
        if (promptEnd < -1 || promptEnd > tokens)
            throw new IllegalArgumentException("prompt end " + promptEnd + " outside 0.." + tokens);
        if (positionOffset < 0 || positionOffset > tokens || shifts < 0 || (positionOffset > 0) != (shifts > 0)) {
            throw new IllegalArgumentException(
                    "position offset " + positionOffset + " after " + shifts + " shifts, for " + tokens + " tokens");
        }
        for (int l = 0; l < layers && positionOffset > 0; l++) {
            for (int h = 0; h < kvHeads; h++)
                if (policy.isFull(l, h)) throw new IllegalArgumentException("a shifted session has no FULL heads");
        }
        this.positionOffset = positionOffset;
        this.shifts = shifts;
        reserve(tokens - positionOffset);
        size = tokens;
        marks.clear(); // undo records are not stored
        this.promptEnd = promptEnd;
    }

    /** Writes a FULL head's key and value at {@code position}, already at the cache's precision (no rounding). */
    public void writeFull(int layer, int kvHead, int position, float[] k, int kOff, float[] v, int vOff) {
        if (compressedHeads[layer][kvHead] != null)
            throw new IllegalArgumentException("(" + layer + ", " + kvHead + ") is not a FULL head");
        if (position < 0 || position >= size)
            throw new IndexOutOfBoundsException("position " + position + " of " + size);
        System.arraycopy(k, kOff, keys[layer][kvHead], position * headSize, headSize);
        System.arraycopy(v, vOff, values[layer][kvHead], position * headSize, headSize);
    }

    /** Replaces a compressed head by one rebuilt from storage ({@link HeadSpec#readRecord}), of the same kind. */
    public void restoreHead(int layer, int kvHead, CompressedHead head) {
        CompressedHead now = compressedHeads[layer][kvHead];
        if (now == null || head == null || now.getClass() != head.getClass()) {
            throw new IllegalArgumentException("(" + layer + ", " + kvHead + ") is a "
                    + policy.spec(layer, kvHead).label() + " head");
        }
        if (head.tokens() >= 0 && head.tokens() != size) {
            throw new IllegalArgumentException(
                    policy.spec(layer, kvHead).label() + " head has " + head.tokens() + " tokens, the cache " + size);
        }
        compressedHeads[layer][kvHead] = head;
    }

    public int layers() {
        return layers;
    }

    public int kvHeads() {
        return kvHeads;
    }

    public int headSize() {
        return headSize;
    }

    /**
     * Heap bytes the working copy takes (FULL heads' allocated floats, the others' kept floats), for memory budgets.
     */
    public long heapBytes() {
        long bytes = 0;
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                bytes += compressedHeads[l][h] == null
                        ? (long) (keys[l][h].length + values[l][h].length) * Float.BYTES
                        : policy.spec(l, h).bytes(size, promptEnd, headSize, headSize * Float.BYTES);
            }
        }
        return bytes + undoBytes(headSize * Float.BYTES);
    }

    /** Forgets everything (FULL heads keep their storage for reuse; a shifted cache gets its first policy back). */
    public void clear() {
        promptEnd = -1;
        marks.clear();
        if (shifts > 0) {
            install(initialPolicy);
        } else {
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < kvHeads; h++) {
                    if (compressedHeads[l][h] != null)
                        compressedHeads[l][h] = policy.spec(l, h).newHead(headSize);
                }
            }
        }
        size = 0;
        positionOffset = shifts = 0;
    }

    private int vectorBytes() {
        return precision.vectorBytes(headSize);
    }

    /** Bytes of what the cache keeps, at its precision (the policy's formula: {@link HeadSpec#bytes}). */
    public long bytesInUse() {
        return policy.bytes(size, promptEnd, headSize, vectorBytes());
    }

    /** What an ordinary cache of the same length would take: every position of every head. */
    public long fullBytes() {
        return policy.fullBytes(size, headSize, vectorBytes());
    }
}
