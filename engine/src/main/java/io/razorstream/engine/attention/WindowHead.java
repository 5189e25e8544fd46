package io.razorstream.engine.attention;

import io.razorstream.engine.kernel.NativeKernels;
import io.razorstream.engine.kernel.Numerics;
import io.razorstream.engine.kernel.Ops;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The cache of one non-retrieval (layer, KV head): sink tokens, a rolling window of recent tokens, and one compensation
 * token (running sums of the keys and values evicted from the window, and their count). Keys are post-RoPE and are
 * summed as they are: the compensation token has no position. Appending a token evicts, at once, whatever no longer
 * fits the window, so the head never holds more than {@code sinks + L + 1} entries, during prefill and decode alike.
 */
public final class WindowHead implements CompressedHead {
    private final int headSize;
    private WindowParams params;
    private final float[] sinkKeys, sinkValues;
    private int sinkCount;
    // Recent tokens, oldest first, in rows [recentStart, recentStart + recentCount) of a buffer of recentCapacity rows:
    // one
    // contiguous run (the native kernel reads it in place); when appending reaches the end the run moves to row 0,
    // and the buffer doubles when the run fills half of it, so moves cost at most one row per appended token.
    private float[] recentKeys, recentValues;
    private int recentCapacity, recentStart, recentCount;
    private MemorySegment recentKeySegment, recentValueSegment;
    private final float[] sumKeys, sumValues;
    // Scratch of attend(): a head is attended by one thread at a time (its KV-head task), so it can own these.
    private final float[] meanK, meanV;
    private final MemorySegment sinkKeySegment, sinkValueSegment, meanKSegment, meanVSegment;
    private float[] probabilities = new float[0];
    private long evicted;
    private long tokens;
    /** Undo records of the last marks, newest first ({@link WindowUndo}). */
    private final ArrayDeque<WindowUndo> undo = new ArrayDeque<>();

    public WindowHead(int headSize, WindowParams params) {
        this.headSize = headSize;
        this.params = params;
        this.sinkKeys = new float[params.sinks() * headSize];
        this.sinkValues = new float[params.sinks() * headSize];
        this.sumKeys = new float[headSize];
        this.sumValues = new float[headSize];
        this.meanK = new float[headSize];
        this.meanV = new float[headSize];
        this.sinkKeySegment = MemorySegment.ofArray(sinkKeys);
        this.sinkValueSegment = MemorySegment.ofArray(sinkValues);
        this.meanKSegment = MemorySegment.ofArray(meanK);
        this.meanVSegment = MemorySegment.ofArray(meanV);
        int rows = Math.max(2, Math.min(params.minWindow(), 64));
        setRecent(new float[rows * headSize], new float[rows * headSize]);
    }

    private void setRecent(float[] keys, float[] values) {
        recentKeys = keys;
        recentValues = values;
        recentCapacity = keys.length / headSize;
        recentKeySegment = MemorySegment.ofArray(keys);
        recentValueSegment = MemorySegment.ofArray(values);
    }

    /** Appends one token's key and value ({@code headSize} floats each, from the given offsets). */
    @Override
    public void append(float[] k, int kOff, float[] v, int vOff) {
        tokens++;
        if (sinkCount < params.sinks()) {
            System.arraycopy(k, kOff, sinkKeys, sinkCount * headSize, headSize);
            System.arraycopy(v, vOff, sinkValues, sinkCount * headSize, headSize);
            sinkCount++;
            return;
        }
        if (recentStart + recentCount == recentCapacity) makeRoom();
        int slot = recentStart + recentCount;
        System.arraycopy(k, kOff, recentKeys, slot * headSize, headSize);
        System.arraycopy(v, vOff, recentValues, slot * headSize, headSize);
        recentCount++;
        int window = params.window(tokens);
        while (recentCount > window) evictOldest();
    }

    private void evictOldest() {
        int base = recentStart * headSize;
        WindowUndo latest = undo.peekFirst();
        if (latest != null && tokens - recentCount < latest.tokens()) { // the entry was there at the latest mark
            latest.evictedKeys().add(Arrays.copyOfRange(recentKeys, base, base + headSize));
            latest.evictedValues().add(Arrays.copyOfRange(recentValues, base, base + headSize));
        }
        if (params.compensate()) {
            for (int i = 0; i < headSize; i++) {
                sumKeys[i] += recentKeys[base + i];
                sumValues[i] += recentValues[base + i];
            }
            evicted++;
        }
        recentStart++;
        recentCount--;
    }

    /** The run reached the buffer's end: moved to row 0, into a buffer twice as large if it fills half of this one. */
    private void makeRoom() {
        float[] k = recentKeys, v = recentValues;
        if (2 * recentCount >= recentCapacity) {
            k = new float[2 * recentCapacity * headSize];
            v = new float[2 * recentCapacity * headSize];
        }
        System.arraycopy(recentKeys, recentStart * headSize, k, 0, recentCount * headSize);
        System.arraycopy(recentValues, recentStart * headSize, v, 0, recentCount * headSize);
        recentStart = 0;
        if (k != recentKeys) setRecent(k, v);
    }

    public int headSize() {
        return headSize;
    }

    /** Tokens appended so far (N). */
    @Override
    public long tokens() {
        return tokens;
    }

    /** Kept keys/values: sinks first, then the window oldest to newest. */
    public int keptCount() {
        return sinkCount + recentCount;
    }

    /** Entries held, the compensation token included once anything was evicted. */
    @Override
    public int entries() {
        return keptCount() + (evicted > 0 ? 1 : 0);
    }

    /** Tokens folded into the compensation token (n; 0 when the window drops evicted tokens instead). */
    public long evictedCount() {
        return evicted;
    }

    /** Copies the key of kept entry {@code i} (sinks first, then the window in order) into {@code out}. */
    public void keptKey(int i, float[] out, int off) {
        System.arraycopy(i < sinkCount ? sinkKeys : recentKeys, kept(i), out, off, headSize);
    }

    public void keptValue(int i, float[] out, int off) {
        System.arraycopy(i < sinkCount ? sinkValues : recentValues, kept(i), out, off, headSize);
    }

    /** The window's block-stored positions are its entries after the sinks, oldest first. */
    @Override
    public void readBlocked(int i, float[] k, int kOff, float[] v, int vOff) {
        if (i < 0 || i >= recentCount) throw new IndexOutOfBoundsException(i);
        keptKey(sinkCount + i, k, kOff);
        keptValue(sinkCount + i, v, vOff);
    }

    private int kept(int i) {
        if (i < 0 || i >= keptCount()) throw new IndexOutOfBoundsException(i);
        return i < sinkCount ? i * headSize : (recentStart + i - sinkCount) * headSize;
    }

    /** Sink tokens held (the first tokens of the sequence, up to N0). */
    public int sinkCount() {
        return sinkCount;
    }

    /** Tokens in the rolling window: positions [tokens - windowCount, tokens) of the sequence. */
    public int windowCount() {
        return recentCount;
    }

    public WindowParams params() {
        return params;
    }

    /**
     * A head rebuilt from stored parts (the state store): {@code tokens} appended so far, the sinks and the window
     * (oldest first) as {@code headSize}-float vectors side by side, and the compensation sums with their count. The
     * result attends exactly as the head that was stored.
     */
    public static WindowHead restore(
            int headSize,
            WindowParams params,
            long tokens,
            int sinkCount,
            float[] sinkKeys,
            float[] sinkValues,
            int windowCount,
            float[] windowKeys,
            float[] windowValues,
            float[] sumKeys,
            float[] sumValues,
            long evicted) {
        if (sinkCount > params.sinks()
                || sinkCount + windowCount > tokens
                || windowCount > params.window(tokens)
                || (sinkCount < params.sinks() && windowCount > 0)
                || evicted > tokens - sinkCount - windowCount) {
            throw new IllegalArgumentException("inconsistent window head: " + tokens + " tokens, " + sinkCount
                    + " sinks, " + windowCount + " in the window, " + evicted + " evicted, for " + params);
        }
        WindowHead head = new WindowHead(headSize, params);
        head.tokens = tokens;
        head.sinkCount = sinkCount;
        System.arraycopy(sinkKeys, 0, head.sinkKeys, 0, sinkCount * headSize);
        System.arraycopy(sinkValues, 0, head.sinkValues, 0, sinkCount * headSize);
        int capacity = Math.max(head.recentCapacity, Integer.highestOneBit(Math.max(1, windowCount)) * 2);
        head.setRecent(
                Arrays.copyOf(windowKeys, capacity * headSize), Arrays.copyOf(windowValues, capacity * headSize));
        head.recentCount = windowCount;
        System.arraycopy(sumKeys, 0, head.sumKeys, 0, headSize);
        System.arraycopy(sumValues, 0, head.sumValues, 0, headSize);
        head.evicted = evicted;
        return head;
    }

    /** Sum of the evicted keys (a copy). */
    public float[] sumKeys() {
        return Arrays.copyOf(sumKeys, headSize);
    }

    public float[] sumValues() {
        return Arrays.copyOf(sumValues, headSize);
    }

    /**
     * The record the store keeps beside the window's block-stored positions: the sinks, then the compensation sums and
     * count.
     */
    @Override
    public void writeRecord(HeadRecord.Writer out) {
        out.putInt(sinkCount);
        for (int i = 0; i < sinkCount; i++) out.putVector(sinkKeys, i * headSize);
        for (int i = 0; i < sinkCount; i++) out.putVector(sinkValues, i * headSize);
        out.putLong(evicted);
        for (float x : sumKeys) out.putFloat(x);
        for (float x : sumValues) out.putFloat(x);
    }

    /** A head from its record and its window's keys and values (oldest first), after {@code tokens} tokens. */
    static WindowHead readRecord(
            int headSize,
            WindowParams params,
            long tokens,
            HeadRecord.Reader in,
            float[] windowKeys,
            float[] windowValues) {
        int sinkCount = in.getInt();
        if (sinkCount < 0 || sinkCount > params.sinks())
            throw new IllegalArgumentException("window head record: " + sinkCount + " sinks");
        float[] sinkKeys = new float[sinkCount * headSize], sinkValues = new float[sinkCount * headSize];
        for (int i = 0; i < sinkCount; i++) in.getVector(sinkKeys, i * headSize);
        for (int i = 0; i < sinkCount; i++) in.getVector(sinkValues, i * headSize);
        long evicted = in.getLong();
        float[] sumKeys = new float[headSize], sumValues = new float[headSize];
        for (int i = 0; i < headSize; i++) sumKeys[i] = in.getFloat();
        for (int i = 0; i < headSize; i++) sumValues[i] = in.getFloat();
        return restore(
                headSize,
                params,
                tokens,
                sinkCount,
                sinkKeys,
                sinkValues,
                windowKeys.length / headSize,
                windowKeys,
                windowValues,
                sumKeys,
                sumValues,
                evicted);
    }

    /**
     * Attention of one query over this head: one softmax over the kept keys plus the compensation token, whose logit
     * carries {@code + ln n} (as if the mean key and value were there n times). Exactly as llama.cpp's non-flash path
     * computes a full head: all logits, the softmax (exponentials summed in double), the probabilities rounded when
     * {@code scores} says so, then the values weighted in order (sinks, then the window oldest first, then the
     * compensation token). The order is the logical one, never the buffer's layout, so a head rebuilt from storage
     * computes bit-identical outputs; and a window that still holds every token gives bit-identical outputs to a FULL
     * head.
     */
    @Override
    public void attend(float[] q, int qOff, Scores scores, float[] out, int outOff) {
        int kept = sinkCount + recentCount, n = kept + (evicted > 0 ? 1 : 0);
        if (probabilities.length < n) probabilities = new float[Math.max(n, 2 * probabilities.length)];
        float[] p = probabilities;
        for (int i = 0; i < sinkCount; i++) p[i] = scores.logit(Ops.dot(q, qOff, sinkKeys, i * headSize, headSize));
        for (int i = 0; i < recentCount; i++)
            p[sinkCount + i] = scores.logit(Ops.dot(q, qOff, recentKeys, recent(i), headSize));
        if (evicted > 0) {
            compensationMeans();
            p[kept] = scores.logit(Ops.dot(q, qOff, meanK, 0, headSize)) + (float) Math.log(evicted);
        }
        Ops.softmax(p, n);
        if (scores.roundProbabilities()) for (int i = 0; i < n; i++) p[i] = Numerics.roundToF16(p[i]);
        Arrays.fill(out, outOff, outOff + headSize, 0f);
        for (int i = 0; i < sinkCount; i++) Ops.axpy(out, outOff, p[i], sinkValues, i * headSize, headSize);
        for (int i = 0; i < recentCount; i++)
            Ops.axpy(out, outOff, p[sinkCount + i], recentValues, recent(i), headSize);
        if (evicted > 0) Ops.axpy(out, outOff, p[kept], meanV, 0, headSize);
    }

    /**
     * Context shift: the head's window is capped by {@code capped} (the same params with a max window), so it folds its
     * oldest entries into the compensation sums until it holds what the capped formula says for its tokens; then every
     * window key and the key sum are re-rotated by {@code rotation} (the positions moved), the keys rounded again to
     * {@code precision}. Sinks keep their positions. Undo records are dropped: a shift cannot be taken back. The capped
     * params are {@code params().withMaxWindow(keep)}, as {@link HeadSpec.Window#shifted} says.
     */
    @Override
    public void shift(int keep, KeyRotation rotation, int layer, KvPrecision precision) {
        params = params.withMaxWindow(keep);
        undo.clear();
        while (recentCount > params.window(tokens)) evictOldest();
        for (int i = 0; i < recentCount; i++) {
            rotation.rotate(layer, recentKeys, recent(i));
            precision.round(recentKeys, recent(i), recentKeys, recent(i), headSize);
        }
        rotation.rotate(layer, sumKeys, 0);
    }

    @Override
    public boolean canUndo() {
        return true;
    }

    @Override
    public void mark(int keep) {
        if (keep < 1) throw new IllegalArgumentException("keep must be >= 1");
        undo.addFirst(WindowUndo.at(tokens, sinkCount, recentCount, evicted, sumKeys, sumValues));
        while (undo.size() > keep) undo.removeLast();
    }

    @Override
    public void rollback() {
        WindowUndo u = undo.pollFirst();
        if (u == null) throw new IllegalStateException("no mark to roll back to");
        // Window entries appended since the mark are the newest ones; those from before it follow the evicted ones
        // back.
        long firstSinceMark = Math.max(u.tokens(), params.sinks());
        int sinceMark = (int) Math.max(0, Math.min(recentCount, tokens - firstSinceMark));
        int kept = recentCount - sinceMark, restored = u.evictedKeys().size() + kept;
        if (restored != u.windowCount())
            throw new IllegalStateException(
                    "undo record of " + restored + " entries for a window of " + u.windowCount());
        float[] k = new float[Math.max(recentCapacity, 2 * restored) * headSize], v = new float[k.length];
        for (int i = 0; i < u.evictedKeys().size(); i++) {
            System.arraycopy(u.evictedKeys().get(i), 0, k, i * headSize, headSize);
            System.arraycopy(u.evictedValues().get(i), 0, v, i * headSize, headSize);
        }
        System.arraycopy(recentKeys, recentStart * headSize, k, u.evictedKeys().size() * headSize, kept * headSize);
        System.arraycopy(
                recentValues, recentStart * headSize, v, u.evictedKeys().size() * headSize, kept * headSize);
        setRecent(k, v);
        recentStart = 0;
        recentCount = restored;
        tokens = u.tokens();
        sinkCount = u.sinkCount();
        evicted = u.evicted();
        System.arraycopy(u.sumKeys(), 0, sumKeys, 0, headSize);
        System.arraycopy(u.sumValues(), 0, sumValues, 0, headSize);
    }

    /** The undo records of the marks this head can return to, oldest first (not to be modified). */
    public List<WindowUndo> undoRecords() {
        return List.copyOf(undo.reversed());
    }

    @Override
    public int undoMarks() {
        return undo.size();
    }

    /** Per mark: the evicted entries it holds, and its compensation sums (fp32). */
    @Override
    public long undoBytes(int vectorBytes) {
        long bytes = 0;
        for (WindowUndo u : undo) bytes += 2L * u.entries() * vectorBytes + 2L * headSize * Float.BYTES;
        return bytes;
    }

    /**
     * The undo record of mark {@code index} (oldest first) for the store: tokens i64, sinks i32, window i32, evicted
     * i64, key sum and value sum (fp32), the evicted entries' count i32, their keys, then their values.
     */
    @Override
    public void writeUndo(int index, HeadRecord.Writer out) {
        WindowUndo u = undoRecords().get(index);
        out.putLong(u.tokens());
        out.putInt(u.sinkCount());
        out.putInt(u.windowCount());
        out.putLong(u.evicted());
        for (float f : u.sumKeys()) out.putFloat(f);
        for (float f : u.sumValues()) out.putFloat(f);
        out.putInt(u.entries());
        for (float[] k : u.evictedKeys()) out.putVector(k, 0);
        for (float[] v : u.evictedValues()) out.putVector(v, 0);
    }

    @Override
    public void readUndo(HeadRecord.Reader in) {
        long at = in.getLong();
        int sinks = in.getInt(), window = in.getInt();
        long evictedThen = in.getLong();
        float[] sumK = new float[headSize], sumV = new float[headSize];
        for (int d = 0; d < headSize; d++) sumK[d] = in.getFloat();
        for (int d = 0; d < headSize; d++) sumV[d] = in.getFloat();
        int n = in.getInt();
        if (n < 0 || n > window) throw new IllegalArgumentException(n + " evicted entries for a window of " + window);
        List<float[]> keys = new ArrayList<>(n), values = new ArrayList<>(n);
        for (int e = 0; e < n; e++) {
            float[] k = new float[headSize];
            in.getVector(k, 0);
            keys.add(k);
        }
        for (int e = 0; e < n; e++) {
            float[] v = new float[headSize];
            in.getVector(v, 0);
            values.add(v);
        }
        WindowUndo u = new WindowUndo(at, sinks, window, evictedThen, sumK, sumV, keys, values);
        WindowUndo newest = undo.peekFirst();
        if (at > tokens || (newest != null && at < newest.tokens())) {
            throw new IllegalArgumentException(
                    "undo record " + (undo.size() + 1) + " (at " + at + " tokens) does not fit a head of " + tokens
                            + " tokens" + (newest == null ? "" : " whose previous mark is at " + newest.tokens()));
        }
        undo.addFirst(u);
    }

    /**
     * {@link #attend} for the {@code group} queries side by side in {@code q} (rounded as the cache rounds) on the
     * native tier, into {@code out} from {@code outOff}: the same softmax over the sinks, the window and the
     * compensation token, in one kernel call that reads each kept row once for the whole group.
     */
    @Override
    public boolean attendsGroupNatively() {
        return true;
    }

    @Override
    public void attendGroupNative(
            MemorySegment q, int group, Scores scores, NativeScratch scratch, MemorySegment out, long outOff) {
        attendNative(q, group, scores, scratch.floats(NativeKernels.attentionScratch(group, entries())), out, outOff);
    }

    /** {@link #attendGroupNative} with the kernel's scratch given ({@code NativeKernels.attentionScratch} floats). */
    void attendNative(
            MemorySegment q, int group, Scores scores, MemorySegment scratch, MemorySegment out, long outOff) {
        boolean compensated = evicted > 0;
        if (compensated) compensationMeans();
        NativeKernels.attend(
                q,
                group,
                headSize,
                sinkKeySegment,
                sinkValueSegment,
                sinkCount,
                recentKeySegment,
                recentValueSegment,
                recentStart,
                recentCount,
                compensated ? meanKSegment : null,
                compensated ? meanVSegment : null,
                compensated ? (float) Math.log(evicted) : 0,
                scores.scale(),
                scores.softcap(),
                scores.roundProbabilities(),
                scratch,
                out,
                outOff);
    }

    private void compensationMeans() {
        float count = evicted;
        for (int d = 0; d < headSize; d++) {
            meanK[d] = sumKeys[d] / count;
            meanV[d] = sumValues[d] / count;
        }
    }

    /** The offset of the window's i-th oldest vector in the recent-token arrays. */
    private int recent(int i) {
        return (recentStart + i) * headSize;
    }
}
