package io.razorstream.store;

import io.razorstream.engine.kv.HeadPolicy;
import io.razorstream.engine.kv.KvPolicy;
import io.razorstream.engine.kv.WindowHead;
import io.razorstream.engine.kv.WindowParams;
import io.razorstream.engine.llama.KvCache;
import io.razorstream.engine.llama.KvPrecision;
import io.razorstream.engine.llama.LlamaConfig;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Sessions' caches in an ordered key-value store, in blocks of {@code B} tokens per (layer, KV head)
 * (key layout: {@link SessionKeys}; value envelope: {@link RecordCodec}).
 * <ul>
 * <li>FULL heads: block b holds positions [bB, (b+1)B); blocks are append-only, the last partial one is
 * rewritten until full.</li>
 * <li>WINDOW heads: a head record (sinks, compensation sums and count, fp32) plus the blocks that overlap
 * the window; a block holds the positions of its range that were in the window when it was written, and
 * is deleted once the window has moved past its end (its tokens are then in the compensation sums).</li>
 * <li>One metadata record per session ({@link SessionMeta}).</li>
 * </ul>
 * {@link #save} writes one atomic batch per turn with only the changed records: the blocks that received
 * new tokens, the window heads' records, the metadata, and deletes of blocks that left the window.
 */
public final class SessionStore {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SessionStore.class);
    private final KvBackend backend;

    public SessionStore(KvBackend backend) {
        this.backend = backend;
    }

    /** What {@link #save} wrote. */
    public record WriteStats(long bytes, int puts, int deletes) {}

    /** Writes what changed in {@code session} since it was loaded or last saved, as one batch. */
    public WriteStats save(Session session, long nowMillis) {
        session.touch(nowMillis);
        KvCache cache = session.cache();
        int tokens = cache.size(), persisted = session.persistedTokens, b = session.blockSize();
        if (tokens < persisted) throw new IllegalStateException("session '" + session.id() + "' shrank from " + persisted + " to " + tokens + " tokens");
        WriteBatchBuilder batch = new WriteBatchBuilder();
        long windowStart = tokens;
        for (int l = 0; l < cache.layers(); l++) {
            for (int h = 0; h < cache.kvHeads(); h++) {
                if (cache.policy().policy(l, h) == HeadPolicy.FULL) {
                    for (long block = persisted / b; block * b < tokens && tokens > persisted; block++) {
                        int from = (int) (block * b), to = (int) Math.min(tokens, (block + 1) * b);
                        batch.put(SessionKeys.block(session.id(), l, h, block), fullBlock(cache, l, h, from, to));
                    }
                    continue;
                }
                WindowHead w = cache.window(l, h);
                windowStart = tokens - w.windowCount();
                if (tokens == persisted && session.stored) continue;
                for (long block = Math.max(persisted, windowStart) / b; block * b < tokens; block++) {
                    long from = Math.max(block * b, windowStart), to = Math.min(tokens, (block + 1) * b);
                    if (from < to) batch.put(SessionKeys.block(session.id(), l, h, block), windowBlock(w, cache.precision(), tokens, from, to));
                }
                if (session.stored && persisted > session.persistedWindowStart) {
                    // Stored blocks were persistedWindowStart/B .. (persisted-1)/B; those wholly before the window go.
                    long lastStored = (persisted - 1) / b;
                    for (long block = session.persistedWindowStart / b; block < windowStart / b && block <= lastStored; block++) {
                        batch.delete(SessionKeys.block(session.id(), l, h, block));
                    }
                }
                batch.put(SessionKeys.headRecord(session.id(), l, h), headRecord(w, cache.precision()));
            }
        }
        for (AppliedTurn t : session.takeUnsavedTurns()) batch.put(SessionKeys.turn(session.id(), t.turnId()), t.encode());
        batch.put(SessionKeys.meta(session.id()), session.meta().encode());
        backend.write(batch);
        session.stored = true;
        session.persistedTokens = tokens;
        session.persistedWindowStart = windowStart;
        return new WriteStats(batch.bytes(), batch.puts(), batch.deletes());
    }

    private static byte[] fullBlock(KvCache cache, int layer, int kvHead, int from, int to) {
        int hs = cache.headSize(), count = to - from;
        KvPrecision p = cache.precision();
        ByteBuffer out = blockHeader(p, hs, from, count);
        float[] k = new float[hs * count], v = new float[hs * count];
        for (int i = 0; i < count; i++) cache.readFull(layer, kvHead, from + i, k, i * hs, v, i * hs);
        for (int i = 0; i < count; i++) VectorCodec.encode(p, k, i * hs, hs, out);
        for (int i = 0; i < count; i++) VectorCodec.encode(p, v, i * hs, hs, out);
        return RecordCodec.wrap(RecordCodec.KIND_BLOCK, out.flip());
    }

    /** Positions [from, to) of a window head, all inside its window [tokens - windowCount, tokens). */
    private static byte[] windowBlock(WindowHead w, KvPrecision p, int tokens, long from, long to) {
        int hs = w.headSize(), count = (int) (to - from);
        ByteBuffer out = blockHeader(p, hs, from, count);
        int firstKept = w.sinkCount() + (int) (from - (tokens - w.windowCount())); // kept index: sinks first, then the window
        float[] vec = new float[hs];
        for (int i = 0; i < count; i++) {
            w.keptKey(firstKept + i, vec, 0);
            VectorCodec.encode(p, vec, 0, hs, out);
        }
        for (int i = 0; i < count; i++) {
            w.keptValue(firstKept + i, vec, 0);
            VectorCodec.encode(p, vec, 0, hs, out);
        }
        return RecordCodec.wrap(RecordCodec.KIND_BLOCK, out.flip());
    }

    private static ByteBuffer blockHeader(KvPrecision p, int hs, long from, int count) {
        ByteBuffer out = ByteBuffer.allocate(1 + 2 + 4 + 2 + 2 * count * p.vectorBytes(hs)).order(ByteOrder.LITTLE_ENDIAN);
        return out.put((byte) p.ordinal()).putShort((short) hs).putInt((int) from).putShort((short) count);
    }

    private static byte[] headRecord(WindowHead w, KvPrecision p) {
        int hs = w.headSize(), sinks = w.sinkCount();
        ByteBuffer out = ByteBuffer.allocate(1 + 2 + 2 + 2 * sinks * p.vectorBytes(hs) + 8 + 2 * hs * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        out.put((byte) p.ordinal()).putShort((short) hs).putShort((short) sinks);
        float[] vec = new float[hs];
        for (int i = 0; i < sinks; i++) {
            w.keptKey(i, vec, 0);
            VectorCodec.encode(p, vec, 0, hs, out);
        }
        for (int i = 0; i < sinks; i++) {
            w.keptValue(i, vec, 0);
            VectorCodec.encode(p, vec, 0, hs, out);
        }
        out.putLong(w.evictedCount());
        for (float x : w.sumKeys()) out.putFloat(x);
        for (float x : w.sumValues()) out.putFloat(x);
        return RecordCodec.wrap(RecordCodec.KIND_HEAD, out.flip());
    }

    /** Whether the session has a metadata record (not decoded: a damaged session exists too). */
    public boolean exists(String sessionId) {
        return backend.get(SessionKeys.meta(sessionId)) != null;
    }

    /** The stored metadata of a session, or empty. */
    public Optional<SessionMeta> meta(String sessionId) {
        byte[] value = backend.get(SessionKeys.meta(sessionId));
        return value == null ? Optional.empty() : Optional.of(SessionMeta.decode(value, "session '" + sessionId + "', metadata"));
    }

    /**
     * Loads a session into a fresh cache for a model of {@code config} whose fingerprint is
     * {@code modelFingerprint}; empty if the session does not exist.
     */
    public Optional<Session> load(String sessionId, LlamaConfig config, String modelFingerprint) {
        Optional<SessionMeta> found = meta(sessionId);
        if (found.isEmpty()) return Optional.empty();
        SessionMeta m = found.get();
        String where = "session '" + sessionId + "'";
        if (!m.modelFingerprint().equals(modelFingerprint)) {
            throw new StoreFormatException(where + " was made with model " + m.modelFingerprint() + ", not with the loaded model " + modelFingerprint);
        }
        if (m.fullHeads().length != config.blockCount() || m.fullHeads()[0].length != config.kvHeadCount()) {
            throw new StoreFormatException(where + " has " + m.fullHeads().length + " x " + m.fullHeads()[0].length
                    + " KV heads, the model " + config.blockCount() + " x " + config.kvHeadCount());
        }
        Session session = Session.create(sessionId, config, KvPolicy.razor(m.fullHeads(), m.window()), m.precision(),
                m.modelFingerprint(), m.profileFingerprint(), m.blockSize());
        KvCache cache = session.cache();
        int tokens = m.tokens(), hs = config.headSize();
        cache.restoreLength(tokens);
        WindowParams params = m.window();
        int layers = config.blockCount(), kvHeads = config.kvHeadCount();
        int sinkCount = (int) Math.min(tokens, params.sinks());
        int windowCount = (int) Math.min(tokens - sinkCount, params.window(tokens));
        long windowStart = tokens - windowCount;
        long[][] covered = new long[layers][kvHeads];
        float[][][] windowKeys = new float[layers][kvHeads][], windowValues = new float[layers][kvHeads][];
        ByteBuffer[][] records = new ByteBuffer[layers][kvHeads];
        byte[] prefix = SessionKeys.dataPrefix(sessionId);
        backend.scan(prefix, SessionKeys.after(prefix), (key, value) -> {
            SessionKeys.DataKey k = SessionKeys.DataKey.parse(key);
            String at = where + ", " + k;
            if (k.layer() >= layers || k.kvHead() >= kvHeads) throw new StoreFormatException(at + ": outside the model");
            boolean full = m.fullHeads()[k.layer()][k.kvHead()];
            if (k.kind() == SessionKeys.HEAD_RECORD) {
                records[k.layer()][k.kvHead()] = RecordCodec.unwrap(value, RecordCodec.KIND_HEAD, () -> at);
                return true;
            }
            ByteBuffer in = RecordCodec.unwrap(value, RecordCodec.KIND_BLOCK, () -> at);
            if (in.get() != m.precision().ordinal() || in.getShort() != hs) throw new StoreFormatException(at + ": precision or head size differs from the session's");
            long from = Integer.toUnsignedLong(in.getInt());
            int count = Short.toUnsignedInt(in.getShort());
            if (from < k.index() * m.blockSize() || from + count > (k.index() + 1) * m.blockSize()) throw new StoreFormatException(at + ": positions outside the block");
            float[] keys = new float[count * hs], values = new float[count * hs];
            for (int i = 0; i < count; i++) VectorCodec.decode(m.precision(), in, keys, i * hs, hs);
            for (int i = 0; i < count; i++) VectorCodec.decode(m.precision(), in, values, i * hs, hs);
            for (int i = 0; i < count; i++) {
                long position = from + i;
                if (position >= tokens) throw new StoreFormatException(at + ": position " + position + " beyond the session's " + tokens + " tokens");
                if (full) {
                    cache.writeFull(k.layer(), k.kvHead(), (int) position, keys, i * hs, values, i * hs);
                    covered[k.layer()][k.kvHead()]++;
                } else if (position >= windowStart) {
                    if (windowKeys[k.layer()][k.kvHead()] == null) {
                        windowKeys[k.layer()][k.kvHead()] = new float[windowCount * hs];
                        windowValues[k.layer()][k.kvHead()] = new float[windowCount * hs];
                    }
                    int slot = (int) (position - windowStart);
                    System.arraycopy(keys, i * hs, windowKeys[k.layer()][k.kvHead()], slot * hs, hs);
                    System.arraycopy(values, i * hs, windowValues[k.layer()][k.kvHead()], slot * hs, hs);
                    covered[k.layer()][k.kvHead()]++;
                }
            }
            return true;
        });
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                String at = where + ", layer " + l + ", KV head " + h;
                if (m.fullHeads()[l][h]) {
                    if (covered[l][h] != tokens) throw new StoreFormatException(at + ": " + covered[l][h] + " of " + tokens + " positions stored");
                    continue;
                }
                if (covered[l][h] != windowCount) throw new StoreFormatException(at + ": " + covered[l][h] + " of the window's " + windowCount + " positions stored");
                ByteBuffer r = records[l][h];
                if (r == null) {
                    if (tokens == 0) continue;
                    throw new StoreFormatException(at + ": head record missing");
                }
                if (r.get() != m.precision().ordinal() || r.getShort() != hs || r.getShort() != sinkCount) {
                    throw new StoreFormatException(at + ", head record: does not match the session (precision, head size or sinks)");
                }
                float[] sinkKeys = new float[sinkCount * hs], sinkValues = new float[sinkCount * hs];
                for (int i = 0; i < sinkCount; i++) VectorCodec.decode(m.precision(), r, sinkKeys, i * hs, hs);
                for (int i = 0; i < sinkCount; i++) VectorCodec.decode(m.precision(), r, sinkValues, i * hs, hs);
                long evicted = r.getLong();
                float[] sumKeys = new float[hs], sumValues = new float[hs];
                for (int i = 0; i < hs; i++) sumKeys[i] = r.getFloat();
                for (int i = 0; i < hs; i++) sumValues[i] = r.getFloat();
                float[] wk = windowKeys[l][h] == null ? new float[0] : windowKeys[l][h], wv = windowValues[l][h] == null ? new float[0] : windowValues[l][h];
                cache.restoreWindow(l, h, WindowHead.restore(hs, params, tokens, sinkCount, sinkKeys, sinkValues, windowCount, wk, wv,
                        sumKeys, sumValues, evicted));
            }
        }
        session.restoreBookkeeping(m);
        session.stored = true;
        session.persistedTokens = tokens;
        session.persistedWindowStart = windowStart;
        return Optional.of(session);
    }

    /** The stored record of an applied turn id, or empty. */
    public Optional<AppliedTurn> appliedTurn(String sessionId, String turnId) {
        byte[] value = backend.get(SessionKeys.turn(sessionId, turnId));
        return value == null ? Optional.empty() : Optional.of(AppliedTurn.decode(turnId, value, "session '" + sessionId + "', turn '" + turnId + "'"));
    }

    /** Deletes every key of the session (its metadata, its whole data range and its turn records) in one batch. */
    public void delete(String sessionId) {
        WriteBatchBuilder batch = new WriteBatchBuilder();
        batch.delete(SessionKeys.meta(sessionId));
        for (byte[] prefix : List.of(SessionKeys.dataPrefix(sessionId), SessionKeys.turnPrefix(sessionId))) {
            batch.deleteRange(prefix, SessionKeys.after(prefix));
        }
        backend.write(batch);
    }

    /** Bytes of keys and values the session occupies in the store (before RocksDB's own compression). */
    public long storedBytes(String sessionId) {
        long[] bytes = {0};
        byte[] meta = SessionKeys.meta(sessionId);
        byte[] m = backend.get(meta);
        if (m != null) bytes[0] += meta.length + m.length;
        for (byte[] prefix : List.of(SessionKeys.dataPrefix(sessionId), SessionKeys.turnPrefix(sessionId))) {
            backend.scan(prefix, SessionKeys.after(prefix), (k, v) -> {
                bytes[0] += k.length + v.length;
                return true;
            });
        }
        return bytes[0];
    }

    /** Up to {@code limit} sessions' metadata in key order, starting after {@code afterSessionId} (null: from the start). */
    public List<SessionMeta> list(String afterSessionId, int limit) {
        List<SessionMeta> out = new ArrayList<>();
        byte[] from = afterSessionId == null ? SessionKeys.metaStart() : SessionKeys.after(SessionKeys.meta(afterSessionId));
        backend.scan(from, SessionKeys.metaEnd(), (k, v) -> {
            decodeOrSkip(k, v).ifPresent(out::add);
            return out.size() < limit;
        });
        return out;
    }

    /**
     * A metadata record met while going over many sessions; a damaged one is left out (and logged) so that one
     * session's damage never stops listing or expiring the others (its own turns report it).
     */
    private static Optional<SessionMeta> decodeOrSkip(byte[] key, byte[] value) {
        String where = "session '" + SessionKeys.sessionOfMeta(key) + "', metadata";
        try {
            return Optional.of(SessionMeta.decode(value, where));
        } catch (StoreFormatException e) {
            log.warn("skipped: {}", e.getMessage());
            return Optional.empty();
        }
    }

    /** Deletes the sessions idle for longer than {@code ttl} at {@code nowMillis}; returns their ids. */
    public List<String> expireIdle(long nowMillis, Duration ttl) {
        List<String> idle = new ArrayList<>();
        backend.scan(SessionKeys.metaStart(), SessionKeys.metaEnd(), (k, v) -> {
            decodeOrSkip(k, v).filter(m -> m.lastActivityMillis() < nowMillis - ttl.toMillis()).ifPresent(m -> idle.add(m.sessionId()));
            return true;
        });
        for (String id : idle) delete(id);
        return idle;
    }
}
