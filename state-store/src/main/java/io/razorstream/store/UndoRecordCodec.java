package io.razorstream.store;

import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.ConversationState;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowHead;
import io.razorstream.engine.attention.WindowUndo;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The undo record of one turn that can be taken back, written once, with the save of the turn (its window heads'
 * records stop growing when the next turn marks the cache):
 * <pre>
 *   turn id | role | text | replied u8 | bookkeeping before the turn (template, last role, after reply u8, pending tokens)
 *   cache size i32 | prompt end i64 at the mark
 *   per window head, in (layer, KV head) order: tokens i64 | sinks i32 | window i32 | evicted i64 |
 *       key sum, value sum (fp32) | n i32 | n evicted keys, n evicted values (at the cache's precision)
 * </pre>
 * Strings are u32 length + UTF-8. FULL heads need nothing: a rollback truncates them. The record is stored in parts of
 * at most {@link #PART_BYTES} (a window of thousands of entries evicted by one long turn is megabytes; Kafka's
 * changelog takes about one per record), each {@code part index u32 | part count u32 | bytes} in its own envelope.
 */
final class UndoRecordCodec {
    static final int PART_BYTES = 256 * 1024;

    private UndoRecordCodec() {}

    /** A decoded record: the session's part and the cache's. */
    record Decoded(Session.TurnMark turn, KvCache.Mark mark, List<WindowUndo> heads) {}

    /** The record of the cache's {@code index}-th mark (oldest first), which is {@code turn}, in its parts. */
    static List<byte[]> encode(Session.TurnMark turn, KvCache cache, int index) {
        KvCache.Mark mark = cache.markList().get(index);
        int hs = cache.headSize();
        KvPrecision p = cache.precision();
        List<WindowUndo> heads = new ArrayList<>();
        for (int l = 0; l < cache.layers(); l++) {
            for (int h = 0; h < cache.kvHeads(); h++) {
                WindowHead w = cache.window(l, h);
                if (w != null) heads.add(w.undoRecords().get(index));
            }
        }
        ConversationState c = turn.before();
        long size = 1024L + 4L * (turn.turnId().length() + turn.role().length() + turn.text().length() + c.lastRole().length())
                + 4L * c.pendingTokens().length;
        for (WindowUndo u : heads) size += 40 + 8L * hs + 2L * u.entries() * VectorCodec.bytes(p, hs);
        if (size > Integer.MAX_VALUE - 64) throw new IllegalStateException("an undo record of " + size + " bytes");
        ByteBuffer b = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
        SessionMeta.putString(b, turn.turnId());
        SessionMeta.putString(b, turn.role());
        SessionMeta.putString(b, turn.text());
        b.put((byte) (turn.replied() ? 1 : 0));
        SessionMeta.putString(b, c.template() == null ? "" : c.template().label());
        SessionMeta.putString(b, c.lastRole());
        b.put((byte) (c.afterReply() ? 1 : 0));
        int[] pending = c.pendingTokens();
        b.putInt(pending.length);
        for (int t : pending) b.putInt(t);
        b.putInt(mark.tokens()).putLong(mark.promptEnd());
        for (WindowUndo u : heads) {
            b.putLong(u.tokens()).putInt(u.sinkCount()).putInt(u.windowCount()).putLong(u.evicted());
            for (float f : u.sumKeys()) b.putFloat(f);
            for (float f : u.sumValues()) b.putFloat(f);
            b.putInt(u.entries());
            for (float[] k : u.evictedKeys()) VectorCodec.encode(p, k, 0, hs, b);
            for (float[] v : u.evictedValues()) VectorCodec.encode(p, v, 0, hs, b);
        }
        b.flip();
        int count = Math.max(1, (b.remaining() + PART_BYTES - 1) / PART_BYTES);
        List<byte[]> parts = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int n = Math.min(PART_BYTES, b.remaining());
            ByteBuffer part = ByteBuffer.allocate(8 + n).order(ByteOrder.LITTLE_ENDIAN).putInt(i).putInt(count);
            part.put(b.slice(b.position(), n));
            b.position(b.position() + n);
            parts.add(RecordCodec.wrap(RecordCodec.KIND_UNDO, part.flip()));
        }
        return parts;
    }

    /** Decodes the record of mark {@code seq} from its parts (in key order) for a cache of {@code windowHeads} window heads of {@code headSize}. */
    static Decoded decode(List<byte[]> values, long seq, int windowHeads, int headSize, KvPrecision p, String where) {
        List<ByteBuffer> parts = new ArrayList<>(values.size());
        int total = 0;
        for (int i = 0; i < values.size(); i++) {
            int at = i;
            ByteBuffer part = RecordCodec.unwrap(values.get(i), RecordCodec.KIND_UNDO, () -> where + ", part " + at);
            int index = part.getInt(), count = part.getInt();
            if (index != i || count != values.size()) {
                throw new StoreFormatException(where + ": part " + index + " of " + count + " found where part " + i + " of " + values.size() + " belongs");
            }
            parts.add(part);
            total += part.remaining();
        }
        ByteBuffer b = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
        for (ByteBuffer part : parts) b.put(part);
        b.flip();
        try {
            String turnId = SessionMeta.getString(b), role = SessionMeta.getString(b), text = SessionMeta.getString(b);
            boolean replied = b.get() == 1;
            String template = SessionMeta.getString(b), lastRole = SessionMeta.getString(b);
            boolean afterReply = b.get() == 1;
            int[] pending = new int[b.getInt()];
            for (int i = 0; i < pending.length; i++) pending[i] = b.getInt();
            ConversationState before = new ConversationState(template.isEmpty() ? null : ChatTemplate.named(template), lastRole, afterReply, pending);
            KvCache.Mark mark = new KvCache.Mark(b.getInt(), b.getLong());
            List<WindowUndo> heads = new ArrayList<>(windowHeads);
            for (int i = 0; i < windowHeads; i++) {
                long tokens = b.getLong();
                int sinks = b.getInt(), window = b.getInt();
                long evicted = b.getLong();
                float[] sumK = new float[headSize], sumV = new float[headSize];
                for (int d = 0; d < headSize; d++) sumK[d] = b.getFloat();
                for (int d = 0; d < headSize; d++) sumV[d] = b.getFloat();
                int n = b.getInt();
                if (n < 0 || n > window) throw new IllegalArgumentException(n + " evicted entries for a window of " + window);
                List<float[]> keys = new ArrayList<>(n), vals = new ArrayList<>(n);
                for (int e = 0; e < n; e++) {
                    float[] k = new float[headSize];
                    VectorCodec.decode(p, b, k, 0, headSize);
                    keys.add(k);
                }
                for (int e = 0; e < n; e++) {
                    float[] v = new float[headSize];
                    VectorCodec.decode(p, b, v, 0, headSize);
                    vals.add(v);
                }
                heads.add(new WindowUndo(tokens, sinks, window, evicted, sumK, sumV, keys, vals));
            }
            if (b.hasRemaining()) throw new IllegalArgumentException(b.remaining() + " bytes after the last head (the session's heads changed?)");
            return new Decoded(new Session.TurnMark(seq, turnId, role, text, replied, before), mark, heads);
        } catch (RuntimeException e) {
            throw new StoreFormatException(where + ": malformed undo record (" + e + ")");
        }
    }
}
