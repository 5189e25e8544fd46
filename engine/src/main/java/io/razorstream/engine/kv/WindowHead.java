package io.razorstream.engine.kv;

import io.razorstream.engine.tensor.Numerics;
import io.razorstream.engine.tensor.Ops;

import java.util.Arrays;

/**
 * The cache of one non-retrieval (layer, KV head): sink tokens, a rolling window of recent tokens, and
 * one compensation token (running sums of the keys and values evicted from the window, and their
 * count). Keys are post-RoPE and are summed as they are: the compensation token has no position.
 * Appending a token evicts, at once, whatever no longer fits the window, so the head never holds more
 * than {@code sinks + L + 1} entries, during prefill and decode alike.
 */
public final class WindowHead implements CompressedHead {
    private final int headSize;
    private final WindowParams params;
    private final float[] sinkKeys, sinkValues;
    private int sinkCount;
    // Recent tokens in a ring: slot (start + i) % capacity holds the i-th oldest.
    private float[] ringKeys, ringValues;
    private int ringCapacity, ringStart, ringCount;
    private final float[] sumKeys, sumValues;
    // Scratch of attend(): a head is attended by one thread at a time (its KV-head task), so it can own these.
    private final float[] meanK, meanV;
    private float[] probabilities = new float[0];
    private long evicted;
    private long tokens;

    public WindowHead(int headSize, WindowParams params) {
        this.headSize = headSize;
        this.params = params;
        this.sinkKeys = new float[params.sinks() * headSize];
        this.sinkValues = new float[params.sinks() * headSize];
        this.ringCapacity = Math.max(1, Math.min(params.minWindow(), 64));
        this.ringKeys = new float[ringCapacity * headSize];
        this.ringValues = new float[ringCapacity * headSize];
        this.sumKeys = new float[headSize];
        this.sumValues = new float[headSize];
        this.meanK = new float[headSize];
        this.meanV = new float[headSize];
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
        if (ringCount == ringCapacity) grow();
        int slot = (ringStart + ringCount) % ringCapacity;
        System.arraycopy(k, kOff, ringKeys, slot * headSize, headSize);
        System.arraycopy(v, vOff, ringValues, slot * headSize, headSize);
        ringCount++;
        int window = params.window(tokens);
        while (ringCount > window) evictOldest();
    }

    private void evictOldest() {
        int base = ringStart * headSize;
        if (params.compensate()) {
            for (int i = 0; i < headSize; i++) {
                sumKeys[i] += ringKeys[base + i];
                sumValues[i] += ringValues[base + i];
            }
            evicted++;
        }
        ringStart = (ringStart + 1) % ringCapacity;
        ringCount--;
    }

    private void grow() {
        int capacity = ringCapacity * 2;
        float[] k = new float[capacity * headSize], v = new float[capacity * headSize];
        for (int i = 0; i < ringCount; i++) {
            int from = ((ringStart + i) % ringCapacity) * headSize;
            System.arraycopy(ringKeys, from, k, i * headSize, headSize);
            System.arraycopy(ringValues, from, v, i * headSize, headSize);
        }
        ringKeys = k;
        ringValues = v;
        ringCapacity = capacity;
        ringStart = 0;
    }

    public int headSize() {
        return headSize;
    }

    /** Tokens appended so far (N). */
    public long tokens() {
        return tokens;
    }

    /** Kept keys/values: sinks first, then the window oldest to newest. */
    public int keptCount() {
        return sinkCount + ringCount;
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
        System.arraycopy(i < sinkCount ? sinkKeys : ringKeys, kept(i), out, off, headSize);
    }

    public void keptValue(int i, float[] out, int off) {
        System.arraycopy(i < sinkCount ? sinkValues : ringValues, kept(i), out, off, headSize);
    }

    private int kept(int i) {
        if (i < 0 || i >= keptCount()) throw new IndexOutOfBoundsException(i);
        return i < sinkCount ? i * headSize : ((ringStart + i - sinkCount) % ringCapacity) * headSize;
    }

    /** Sink tokens held (the first tokens of the sequence, up to N0). */
    public int sinkCount() {
        return sinkCount;
    }

    /** Tokens in the rolling window: positions [tokens - windowCount, tokens) of the sequence. */
    public int windowCount() {
        return ringCount;
    }

    public WindowParams params() {
        return params;
    }

    /**
     * A head rebuilt from stored parts (the state store): {@code tokens} appended so far, the sinks and
     * the window (oldest first) as {@code headSize}-float vectors side by side, and the compensation sums
     * with their count. The result attends exactly as the head that was stored.
     */
    public static WindowHead restore(int headSize, WindowParams params, long tokens, int sinkCount, float[] sinkKeys,
                                     float[] sinkValues, int windowCount, float[] windowKeys, float[] windowValues,
                                     float[] sumKeys, float[] sumValues, long evicted) {
        if (sinkCount > params.sinks() || sinkCount + windowCount > tokens || windowCount > params.window(tokens)
                || (sinkCount < params.sinks() && windowCount > 0) || evicted > tokens - sinkCount - windowCount) {
            throw new IllegalArgumentException("inconsistent window head: " + tokens + " tokens, " + sinkCount + " sinks, "
                    + windowCount + " in the window, " + evicted + " evicted, for " + params);
        }
        WindowHead head = new WindowHead(headSize, params);
        head.tokens = tokens;
        head.sinkCount = sinkCount;
        System.arraycopy(sinkKeys, 0, head.sinkKeys, 0, sinkCount * headSize);
        System.arraycopy(sinkValues, 0, head.sinkValues, 0, sinkCount * headSize);
        head.ringCapacity = Math.max(head.ringCapacity, Integer.highestOneBit(Math.max(1, windowCount)) * 2);
        head.ringKeys = Arrays.copyOf(windowKeys, head.ringCapacity * headSize);
        head.ringValues = Arrays.copyOf(windowValues, head.ringCapacity * headSize);
        head.ringCount = windowCount;
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

    /** The record the store keeps beside the window's block-stored positions: the sinks, then the compensation sums and count. */
    void writeRecord(HeadRecord.Writer out) {
        out.putInt(sinkCount);
        for (int i = 0; i < sinkCount; i++) out.putVector(sinkKeys, i * headSize);
        for (int i = 0; i < sinkCount; i++) out.putVector(sinkValues, i * headSize);
        out.putLong(evicted);
        for (float x : sumKeys) out.putFloat(x);
        for (float x : sumValues) out.putFloat(x);
    }

    /** A head from its record and its window's keys and values (oldest first), after {@code tokens} tokens. */
    static WindowHead readRecord(int headSize, WindowParams params, long tokens, HeadRecord.Reader in, float[] windowKeys, float[] windowValues) {
        int sinkCount = in.getInt();
        if (sinkCount < 0 || sinkCount > params.sinks()) throw new IllegalArgumentException("window head record: " + sinkCount + " sinks");
        float[] sinkKeys = new float[sinkCount * headSize], sinkValues = new float[sinkCount * headSize];
        for (int i = 0; i < sinkCount; i++) in.getVector(sinkKeys, i * headSize);
        for (int i = 0; i < sinkCount; i++) in.getVector(sinkValues, i * headSize);
        long evicted = in.getLong();
        float[] sumKeys = new float[headSize], sumValues = new float[headSize];
        for (int i = 0; i < headSize; i++) sumKeys[i] = in.getFloat();
        for (int i = 0; i < headSize; i++) sumValues[i] = in.getFloat();
        return restore(headSize, params, tokens, sinkCount, sinkKeys, sinkValues, windowKeys.length / headSize, windowKeys, windowValues,
                sumKeys, sumValues, evicted);
    }

    /**
     * Attention of one query over this head: one softmax over the kept keys plus the compensation token, whose
     * logit carries {@code + ln n} (as if the mean key and value were there n times). Exactly as llama.cpp's
     * non-flash path computes a full head: all logits, the softmax (exponentials summed in double), the
     * probabilities rounded when {@code scores} says so, then the values weighted in order (sinks, then the
     * window oldest first, then the compensation token). The order is the logical one, never the ring's layout,
     * so a head rebuilt from storage computes bit-identical outputs; and a window that still holds every token
     * gives bit-identical outputs to a FULL head.
     */
    @Override
    public void attend(float[] q, int qOff, Scores scores, float[] out, int outOff) {
        int kept = sinkCount + ringCount, n = kept + (evicted > 0 ? 1 : 0);
        if (probabilities.length < n) probabilities = new float[Math.max(n, 2 * probabilities.length)];
        float[] p = probabilities;
        for (int i = 0; i < sinkCount; i++) p[i] = scores.logit(Ops.dot(q, qOff, sinkKeys, i * headSize, headSize));
        for (int i = 0; i < ringCount; i++) p[sinkCount + i] = scores.logit(Ops.dot(q, qOff, ringKeys, ring(i), headSize));
        if (evicted > 0) {
            float count = evicted;
            for (int d = 0; d < headSize; d++) {
                meanK[d] = sumKeys[d] / count;
                meanV[d] = sumValues[d] / count;
            }
            p[kept] = scores.logit(Ops.dot(q, qOff, meanK, 0, headSize)) + (float) Math.log(count);
        }
        Ops.softmax(p, n);
        if (scores.roundProbabilities()) for (int i = 0; i < n; i++) p[i] = Numerics.roundToF16(p[i]);
        Arrays.fill(out, outOff, outOff + headSize, 0f);
        for (int i = 0; i < sinkCount; i++) Ops.axpy(out, outOff, p[i], sinkValues, i * headSize, headSize);
        for (int i = 0; i < ringCount; i++) Ops.axpy(out, outOff, p[sinkCount + i], ringValues, ring(i), headSize);
        if (evicted > 0) Ops.axpy(out, outOff, p[kept], meanV, 0, headSize);
    }

    /** The offset of the window's i-th oldest vector in the ring arrays. */
    private int ring(int i) {
        return ((ringStart + i) % ringCapacity) * headSize;
    }
}
