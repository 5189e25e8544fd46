package io.razorstream.store;

import io.razorstream.engine.attention.CompressedHead;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.chat.ConversationState;
import io.razorstream.engine.chat.Message;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The undo record of one turn that can be taken back, written once, with the save of the turn (its heads' undo records
 * stop growing when the next turn marks the cache):
 *
 * <pre>
 *   turn id | role | text | replied u8
 *   bookkeeping before the turn: template | last role | after reply u8 | pending tokens
 *   cache size i32 | prompt end i64 at the mark
 *   per compressed head, in (layer, KV head) order: what the head writes ({@link CompressedHead#writeUndo}); a window
 *       head: tokens i64 | sinks i32 | window i32 | evicted i64 | key sum, value sum (fp32) | n i32 | n evicted keys,
 *       n evicted values (at the cache's precision)
 * </pre>
 *
 * Strings are u32 length + UTF-8. FULL heads need nothing: a rollback truncates them (and a cache with marks has no
 * compressed heads that cannot undo). The record is stored in parts of at most {@link #PART_BYTES} (a window of
 * thousands of entries evicted by one long turn is megabytes; Kafka's changelog takes about one per record), each
 * {@code part index u32 | part count u32 | bytes} in its own envelope.
 */
final class UndoRecordCodec {
    static final int PART_BYTES = 256 * 1024;

    private UndoRecordCodec() {}

    /** A decoded record: the session's part and the cache's (the heads have read theirs). */
    record Decoded(Session.TurnMark turn, KvCache.Mark mark) {}

    /** The record of the cache's {@code index}-th mark (oldest first), which is {@code turn}, in its parts. */
    static List<byte[]> encode(Session.TurnMark turn, KvCache cache, int index) {
        KvCache.Mark mark = cache.markList().get(index);
        int hs = cache.headSize();
        KvPrecision p = cache.precision();
        ConversationState c = turn.before();
        long size = 1024L
                + 4L
                        * (turn.turnId().length()
                                + turn.role().length()
                                + turn.text().length()
                                + c.lastRole().length())
                + 4L * c.pendingTokens().length;
        if (size > Integer.MAX_VALUE - 64) throw new IllegalStateException("an undo record of " + size + " bytes");
        HeadRecordCodec.Out out = new HeadRecordCodec.Out(p, hs, (int) size);
        ByteBuffer b =
                out.room((int) size); // the bookkeeping fits this room; the heads' records grow the buffer as they need
        SessionMeta.putString(b, turn.turnId());
        SessionMeta.putString(b, turn.role());
        SessionMeta.putString(b, turn.text());
        b.put((byte) (turn.replied() ? 1 : 0));
        SessionMeta.putString(b, c.template() == null ? "" : c.template());
        SessionMeta.putString(b, c.lastRole());
        b.put((byte) (c.afterReply() ? 1 : 0));
        int[] pending = c.pendingTokens();
        b.putInt(pending.length);
        for (int t : pending) b.putInt(t);
        b.putInt(mark.tokens()).putLong(mark.promptEnd());
        for (int l = 0; l < cache.layers(); l++) {
            for (int h = 0; h < cache.kvHeads(); h++) {
                CompressedHead head = cache.compressed(l, h);
                if (head != null) head.writeUndo(index, out);
            }
        }
        if (!c.history().isEmpty())
            SessionMeta.putHistory(out.room(SessionMeta.historyBytes(c.history())), c.history());
        b = out.buffer.flip();
        int count = Math.max(1, (b.remaining() + PART_BYTES - 1) / PART_BYTES);
        List<byte[]> parts = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int n = Math.min(PART_BYTES, b.remaining());
            ByteBuffer part = ByteBuffer.allocate(8 + n)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putInt(i)
                    .putInt(count);
            part.put(b.slice(b.position(), n));
            b.position(b.position() + n);
            parts.add(RecordCodec.wrap(RecordCodec.KIND_UNDO, part.flip()));
        }
        return parts;
    }

    /**
     * Decodes the record of mark {@code seq} from its parts (in key order) into {@code cache}, restored as it is now:
     * each compressed head reads its undo record ({@link CompressedHead#readUndo}), the marks are the caller's.
     */
    static Decoded decode(List<byte[]> values, long seq, KvCache cache, String where) {
        List<ByteBuffer> parts = new ArrayList<>(values.size());
        int total = 0;
        for (int i = 0; i < values.size(); i++) {
            int at = i;
            ByteBuffer part = RecordCodec.unwrap(values.get(i), RecordCodec.KIND_UNDO, () -> where + ", part " + at);
            int index = part.getInt(), count = part.getInt();
            if (index != i || count != values.size()) {
                throw new StoreFormatException(where + ": part " + index + " of " + count + " found where part " + i
                        + " of " + values.size() + " belongs");
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
            KvCache.Mark mark = new KvCache.Mark(b.getInt(), b.getLong());
            HeadRecordCodec.In in = new HeadRecordCodec.In(b, cache.precision(), cache.headSize());
            for (int l = 0; l < cache.layers(); l++) {
                for (int h = 0; h < cache.kvHeads(); h++) {
                    CompressedHead head = cache.compressed(l, h);
                    if (head != null) head.readUndo(in);
                }
            }
            // The messages before the turn (the model's own template keeps them) follow the heads; older records end
            // here.
            List<Message> history = b.hasRemaining() ? SessionMeta.getHistory(b) : List.of();
            ConversationState before = new ConversationState(template, lastRole, afterReply, pending, history);
            if (b.hasRemaining())
                throw new IllegalArgumentException(
                        b.remaining() + " bytes after the last head (the session's heads changed?)");
            return new Decoded(new Session.TurnMark(seq, turnId, role, text, replied, before), mark);
        } catch (RuntimeException e) {
            throw new StoreFormatException(where + ": malformed undo record (" + e + ")");
        }
    }
}
