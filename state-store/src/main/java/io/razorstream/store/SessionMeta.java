package io.razorstream.store;

import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.chat.Message;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A session's metadata record: which model and head profile its cache belongs to, the cache's policy (a head spec per
 * layer and KV head), precision and block size, how many tokens it holds and where its prompt ended (SnapKV compresses
 * there; -1: not yet), the rendered-conversation bookkeeping the next turn needs (tokens generated but not yet in the
 * cache - the last sampled token is fed at the start of the next turn -, the role of the last message, whether it was a
 * generated reply still to be closed by the chat template), how many turn ids were applied (each has a record of its
 * own), the last activity time, the context shifts (positions given back, how many shifts) and the bytes of the undo
 * records of the turns that can be taken back and their count, and the ids of the last turns run on it, newest first
 * (these written after the rest; absent from older records: read as none). The recent ids let a client that resends a
 * whole conversation (the OpenAI protocol does) find where it and the session part. Last, the conversation's messages
 * when its chat format renders from them (the model's own template; absent from older records: none).
 *
 * <p>The policy is {@link HeadSpecCodec}'s: in store format 4 a table of the distinct specs and an index per head; a
 * record of format 3 has its per-head kind tags there instead (read, never written).
 */
public record SessionMeta(
        String sessionId,
        String modelFingerprint,
        String profileFingerprint,
        KvPrecision precision,
        KvPolicy policy,
        int blockSize,
        int tokens,
        long promptEnd,
        String chatTemplate,
        int[] pendingTokens,
        String lastRole,
        boolean afterReply,
        long turnsApplied,
        long lastActivityMillis,
        int positionOffset,
        int shifts,
        long undoBytes,
        int undoableTurns,
        List<String> recentTurnIds,
        List<Message> history) {
    public SessionMeta {
        recentTurnIds = List.copyOf(recentTurnIds);
        history = List.copyOf(history);
    }

    /**
     * Bytes the session's cache keeps (as {@code KvCache.bytesInUse()} counts them: the same formula), from the
     * metadata alone.
     */
    public long kvBytes(int headSize) {
        return policy.bytes(tokens, promptEnd, headSize, precision.vectorBytes(headSize));
    }

    /** What an ordinary cache of the same tokens would keep at the same precision. */
    public long fullKvBytes(int headSize) {
        return policy.fullBytes(tokens, headSize, precision.vectorBytes(headSize));
    }

    byte[] encode() {
        byte[] policyBytes = HeadSpecCodec.encode(policy);
        ByteBuffer b = ByteBuffer.allocate(estimate() + policyBytes.length).order(ByteOrder.LITTLE_ENDIAN);
        putString(b, sessionId);
        putString(b, modelFingerprint);
        putString(b, profileFingerprint);
        b.put((byte) precision.ordinal());
        b.put(policyBytes);
        b.putInt(blockSize).putInt(tokens).putLong(promptEnd);
        putString(b, chatTemplate);
        b.putInt(pendingTokens.length);
        for (int t : pendingTokens) b.putInt(t);
        putString(b, lastRole);
        b.put((byte) (afterReply ? 1 : 0));
        b.putLong(turnsApplied);
        b.putLong(lastActivityMillis);
        b.putInt(positionOffset).putInt(shifts).putLong(undoBytes).putInt(undoableTurns);
        b.putInt(recentTurnIds.size());
        for (String t : recentTurnIds) putString(b, t);
        putHistory(b, history);
        return RecordCodec.wrap(RecordCodec.KIND_META, b.flip());
    }

    private int estimate() {
        int n = 256
                + 4 * lastRole.length()
                + 4 * chatTemplate.length()
                + 4 * sessionId.length()
                + 4 * modelFingerprint.length()
                + 4 * profileFingerprint.length()
                + 4 * pendingTokens.length;
        for (String t : recentTurnIds) n += 4 + 4 * t.length();
        return n + historyBytes(history);
    }

    static SessionMeta decode(byte[] value, String where) {
        ByteBuffer b = RecordCodec.unwrap(value, RecordCodec.KIND_META, () -> where);
        try {
            String id = getString(b), model = getString(b), profile = getString(b);
            KvPrecision precision = KvPrecision.values()[b.get()];
            KvPolicy policy;
            try {
                policy = RecordCodec.version(value) >= 4 ? HeadSpecCodec.decode(b) : HeadSpecCodec.decodeLegacy(b);
            } catch (IllegalArgumentException | BufferUnderflowException e) {
                throw new StoreFormatException(
                        where + ": the metadata's cache policy cannot be read: " + e.getMessage());
            }
            int blockSize = b.getInt(), tokens = b.getInt();
            long promptEnd = b.getLong();
            String chatTemplate = getString(b);
            int[] pending = new int[b.getInt()];
            for (int i = 0; i < pending.length; i++) pending[i] = b.getInt();
            String lastRole = getString(b);
            boolean afterReply = b.get() == 1;
            long turns = b.getLong(), lastActivity = b.getLong();
            int offset = b.hasRemaining() ? b.getInt() : 0, shifts = b.hasRemaining() ? b.getInt() : 0;
            long undoBytes = b.hasRemaining() ? b.getLong() : 0;
            int undoable = b.hasRemaining() ? b.getInt() : 0;
            List<String> recent = new ArrayList<>();
            for (int i = 0, n = b.hasRemaining() ? b.getInt() : 0; i < n; i++) recent.add(getString(b));
            List<Message> history = b.hasRemaining() ? getHistory(b) : List.of();
            return new SessionMeta(
                    id,
                    model,
                    profile,
                    precision,
                    policy,
                    blockSize,
                    tokens,
                    promptEnd,
                    chatTemplate,
                    pending,
                    lastRole,
                    afterReply,
                    turns,
                    lastActivity,
                    offset,
                    shifts,
                    undoBytes,
                    undoable,
                    recent,
                    history);
        } catch (StoreFormatException e) {
            throw e;
        } catch (
                RuntimeException
                        e) { // a record that passed its checksum but does not parse: a writer bug, say so plainly
            throw new StoreFormatException(where + ": malformed metadata record (" + e + ")");
        }
    }

    /** Upper bound of {@link #putHistory}'s bytes. */
    static int historyBytes(List<Message> history) {
        int n = 4;
        for (Message m : history)
            n += 8 + 4 * m.role().length() + 4 * m.content().length();
        return n;
    }

    /** A conversation's messages (kept for the model's own template): count, then role and content of each. */
    static void putHistory(ByteBuffer b, List<Message> history) {
        b.putInt(history.size());
        for (Message m : history) {
            putString(b, m.role());
            putString(b, m.content());
        }
    }

    static List<Message> getHistory(ByteBuffer b) {
        List<Message> out = new ArrayList<>();
        for (int i = 0, n = b.getInt(); i < n; i++) out.add(new Message(getString(b), getString(b)));
        return out;
    }

    static void putString(ByteBuffer b, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        b.putInt(bytes.length).put(bytes);
    }

    static String getString(ByteBuffer b) {
        byte[] bytes = new byte[b.getInt()];
        b.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
