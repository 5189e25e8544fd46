package io.razorstream.store;

import io.razorstream.engine.attention.CompressedHead;
import io.razorstream.engine.attention.HeadRecord;
import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.model.ModelConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * Sessions' caches in an ordered key-value store, in blocks of {@code B} tokens per (layer, KV head) (key layout:
 * {@link SessionKeys}; value envelope: {@link RecordCodec}).
 *
 * <ul>
 *   <li>FULL heads: block b holds positions [bB, (b+1)B); blocks are append-only, the last partial one is rewritten
 *       until full.
 *   <li>WINDOW heads: a head record (sinks, compensation sums and count, fp32) plus the blocks that overlap the window;
 *       a block holds the positions of its range that were in the window when it was written, and is deleted once the
 *       window has moved past its end (its tokens are then in the compensation sums).
 *   <li>One metadata record per session ({@link SessionMeta}).
 *   <li>One undo record per turn that can be taken back ({@link UndoRecordCodec}), written once with its turn and
 *       deleted when the turn can no longer be taken back.
 * </ul>
 *
 * {@link #save} writes one atomic batch per turn with only the changed records: the blocks that received new tokens,
 * the window heads' records, the metadata, the new undo records, and deletes of blocks that left the window. After a
 * context shift (every kept key re-rotated, the policy changed) it rewrites the session's data whole, in the same one
 * batch; after a rollback, the blocks from where the cache went back to (a window head's whole window).
 */
public final class SessionStore {
    private static final Logger log = LoggerFactory.getLogger(SessionStore.class);
    private final StoreBackend backend;

    public SessionStore(StoreBackend backend) {
        this.backend = backend;
    }

    /** What {@link #save} wrote. */
    public record WriteStats(long bytes, int puts, int deletes) {}

    /**
     * Writes what changed in {@code session} since it was loaded or last saved, as one batch: new block-stored
     * positions (FULL heads, WINDOW heads' windows), deletions of blocks a window has left, the head records of the
     * heads that changed, the new turn records and the metadata.
     */
    public WriteStats save(Session session, long nowMillis) {
        session.touch(nowMillis);
        KvCache cache = session.cache();
        KvPolicy policy = cache.policy();
        int tokens = cache.size(), b = session.blockSize();
        WriteBatchBuilder batch = new WriteBatchBuilder();
        boolean stored = session.stored;
        int persisted = session.persistedTokens;
        int rolledBack = session.rolledBackTo; // the lowest size a rollback went to since the last save, or -1
        if (stored && cache.shifts() != session.persistedShifts) { // every kept key moved: write the data again, whole
            byte[] prefix = SessionKeys.dataPrefix(session.id());
            batch.deleteRange(prefix, SessionKeys.after(prefix));
            stored = false;
            persisted = 0;
        }
        if (!stored) rolledBack = -1;
        if (tokens < persisted && rolledBack < 0) {
            throw new IllegalStateException(
                    "session '" + session.id() + "' shrank from " + persisted + " to " + tokens + " tokens");
        }
        boolean unchanged =
                stored && tokens == persisted && cache.promptEnd() == session.persistedPromptEnd && rolledBack < 0;
        for (int l = 0; l < cache.layers() && !unchanged; l++) {
            for (int h = 0; h < cache.kvHeads(); h++) {
                HeadSpec spec = policy.spec(l, h);
                long start = spec.blockPositions(tokens);
                if (start >= 0) {
                    long storedStart = spec.blockPositions(persisted), writeFrom = Math.max(persisted, start);
                    if (rolledBack >= 0) {
                        // Stored blocks past the rollback point are stale (a window head's, all of them: its window
                        // moved
                        // back over blocks it had deleted): they go first, and are written again from memory.
                        long staleFrom = policy.isFull(l, h) ? rolledBack : storedStart;
                        if (persisted > staleFrom) {
                            for (long block = staleFrom / b; block <= (persisted - 1) / b; block++)
                                batch.delete(SessionKeys.block(session.id(), l, h, block));
                        }
                        writeFrom = policy.isFull(l, h) ? rolledBack / b * b : start; // from the first stale block
                    } else if (stored && persisted > storedStart) {
                        // Stored blocks were storedStart/B .. (persisted-1)/B; those wholly before the new start go.
                        long lastStored = (persisted - 1) / b;
                        for (long block = storedStart / b; block < start / b && block <= lastStored; block++) {
                            batch.delete(SessionKeys.block(session.id(), l, h, block));
                        }
                    }
                    for (long block = writeFrom / b; block * b < tokens && tokens > writeFrom; block++) {
                        long from = Math.max(block * b, start), to = Math.min(tokens, (block + 1) * b);
                        if (from < to)
                            batch.put(
                                    SessionKeys.block(session.id(), l, h, block),
                                    block(cache, l, h, start, (int) from, (int) to));
                    }
                }
                CompressedHead head = cache.compressed(l, h);
                if (head != null)
                    batch.put(
                            SessionKeys.headRecord(session.id(), l, h),
                            HeadRecordCodec.encode(head, cache.precision(), cache.headSize()));
            }
        }
        saveUndo(session, batch);
        for (AppliedTurn t : session.takeUnsavedTurns())
            batch.put(SessionKeys.turn(session.id(), t.turnId()), t.encode());
        batch.put(SessionKeys.meta(session.id()), session.meta().encode());
        backend.write(batch);
        session.stored = true;
        session.persistedTokens = tokens;
        session.persistedPromptEnd = cache.promptEnd();
        session.persistedShifts = cache.shifts();
        session.rolledBackTo = -1;
        return new WriteStats(batch.bytes(), batch.puts(), batch.deletes());
    }

    /**
     * The undo records of the turns marked since the last save (complete now: a record stops growing when the next turn
     * marks the cache, and nothing is appended between a turn and its save) and deletes of those dropped since.
     */
    private static void saveUndo(Session session, WriteBatchBuilder batch) {
        for (long seq : session.droppedMarks) {
            byte[] mark = SessionKeys.undoMark(session.id(), seq);
            batch.deleteRange(mark, SessionKeys.after(mark));
        }
        session.droppedMarks.clear();
        List<Session.TurnMark> newestFirst = session.undoableTurns();
        if (newestFirst.size() != session.cache().marks()) {
            throw new IllegalStateException("session '" + session.id() + "' has " + newestFirst.size()
                    + " turns to undo and " + session.cache().marks() + " marks");
        }
        for (int i = newestFirst.size() - 1; i >= 0; i--) {
            Session.TurnMark m = newestFirst.get(i);
            if (m.seq() <= session.persistedMarkSeq) continue;
            List<byte[]> parts = UndoRecordCodec.encode(m, session.cache(), newestFirst.size() - 1 - i);
            for (int p = 0; p < parts.size(); p++) batch.put(SessionKeys.undo(session.id(), m.seq(), p), parts.get(p));
        }
        if (!newestFirst.isEmpty())
            session.persistedMarkSeq =
                    Math.max(session.persistedMarkSeq, newestFirst.get(0).seq());
    }

    /**
     * Positions [from, to) of a head's block-stored positions (which start at {@code start}): keys, then values; a FULL
     * head's from the cache, a compressed head's from the head ({@link CompressedHead#readBlocked}).
     */
    private static byte[] block(KvCache cache, int layer, int kvHead, long start, int from, int to) {
        int hs = cache.headSize(), count = to - from;
        KvPrecision p = cache.precision();
        ByteBuffer out = blockHeader(p, hs, from, count);
        float[] k = new float[hs * count], v = new float[hs * count];
        CompressedHead head = cache.compressed(layer, kvHead);
        for (int i = 0; i < count; i++) {
            if (head == null) {
                cache.readFull(layer, kvHead, from + i, k, i * hs, v, i * hs);
            } else {
                head.readBlocked((int) (from + i - start), k, i * hs, v, i * hs);
            }
        }
        for (int i = 0; i < count; i++) VectorCodec.encode(p, k, i * hs, hs, out);
        for (int i = 0; i < count; i++) VectorCodec.encode(p, v, i * hs, hs, out);
        return RecordCodec.wrap(RecordCodec.KIND_BLOCK, out.flip());
    }

    private static ByteBuffer blockHeader(KvPrecision p, int hs, long from, int count) {
        ByteBuffer out = ByteBuffer.allocate(1 + 2 + 4 + 2 + 2 * count * p.vectorBytes(hs))
                .order(ByteOrder.LITTLE_ENDIAN);
        return out.put((byte) p.ordinal())
                .putShort((short) hs)
                .putInt((int) from)
                .putShort((short) count);
    }

    /** Whether the session has a metadata record (not decoded: a damaged session exists too). */
    public boolean exists(String sessionId) {
        return backend.get(SessionKeys.meta(sessionId)) != null;
    }

    /** The stored metadata of a session, or empty. */
    public Optional<SessionMeta> meta(String sessionId) {
        byte[] value = backend.get(SessionKeys.meta(sessionId));
        return value == null
                ? Optional.empty()
                : Optional.of(SessionMeta.decode(value, "session '" + sessionId + "', metadata"));
    }

    /**
     * Loads a session into a fresh cache for a model of {@code config} whose fingerprint is {@code modelFingerprint};
     * empty if the session does not exist.
     */
    public Optional<Session> load(String sessionId, ModelConfig config, String modelFingerprint) {
        Optional<SessionMeta> found = meta(sessionId);
        if (found.isEmpty()) return Optional.empty();
        SessionMeta m = found.get();
        String where = "session '" + sessionId + "'";
        if (!m.modelFingerprint().equals(modelFingerprint)) {
            throw new StoreFormatException(where + " was made with model " + m.modelFingerprint()
                    + ", not with the loaded model " + modelFingerprint);
        }
        KvPolicy policy = m.policy();
        if (policy.layers() != config.blockCount() || policy.kvHeads() != config.kvHeadCount()) {
            throw new StoreFormatException(where + " has " + policy.layers() + " x " + policy.kvHeads()
                    + " KV heads, the model " + config.blockCount() + " x " + config.kvHeadCount());
        }
        Session session = Session.create(
                sessionId, config, policy, m.precision(), m.modelFingerprint(), m.profileFingerprint(), m.blockSize());
        KvCache cache = session.cache();
        int tokens = m.tokens(), hs = config.headSize();
        try {
            cache.restoreLength(tokens, m.promptEnd(), m.positionOffset(), m.shifts());
        } catch (IllegalArgumentException e) {
            throw new StoreFormatException(where + ": " + e.getMessage());
        }
        int layers = config.blockCount(), kvHeads = config.kvHeadCount();
        long[][] starts = new long[layers][kvHeads], covered = new long[layers][kvHeads];
        float[][][] blockKeys = new float[layers][kvHeads][], blockValues = new float[layers][kvHeads][];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                starts[l][h] = policy.spec(l, h).blockPositions(tokens);
                if (starts[l][h] >= 0 && !policy.isFull(l, h)) { // FULL positions go straight into the cache
                    blockKeys[l][h] = new float[(int) (tokens - starts[l][h]) * hs];
                    blockValues[l][h] = new float[(int) (tokens - starts[l][h]) * hs];
                }
            }
        }
        ByteBuffer[][] records = new ByteBuffer[layers][kvHeads];
        byte[] prefix = SessionKeys.dataPrefix(sessionId);
        backend.scan(prefix, SessionKeys.after(prefix), (key, value) -> {
            SessionKeys.DataKey k = SessionKeys.DataKey.parse(key);
            String at = where + ", " + k;
            if (k.layer() >= layers || k.kvHead() >= kvHeads)
                throw new StoreFormatException(at + ": outside the model");
            int l = k.layer(), h = k.kvHead();
            if (k.kind() == SessionKeys.HEAD_RECORD) {
                records[l][h] = RecordCodec.unwrap(value, RecordCodec.KIND_HEAD, () -> at);
                return true;
            }
            if (starts[l][h] < 0)
                throw new StoreFormatException(at + ": a " + policy.spec(l, h).label() + " head has no blocks");
            ByteBuffer in = RecordCodec.unwrap(value, RecordCodec.KIND_BLOCK, () -> at);
            if (in.get() != m.precision().ordinal() || in.getShort() != hs)
                throw new StoreFormatException(at + ": precision or head size differs from the session's");
            long from = Integer.toUnsignedLong(in.getInt());
            int count = Short.toUnsignedInt(in.getShort());
            if (from < k.index() * m.blockSize() || from + count > (k.index() + 1) * m.blockSize())
                throw new StoreFormatException(at + ": positions outside the block");
            float[] keys = new float[count * hs], values = new float[count * hs];
            for (int i = 0; i < count; i++) VectorCodec.decode(m.precision(), in, keys, i * hs, hs);
            for (int i = 0; i < count; i++) VectorCodec.decode(m.precision(), in, values, i * hs, hs);
            for (int i = 0; i < count; i++) {
                long position = from + i;
                if (position >= tokens)
                    throw new StoreFormatException(
                            at + ": position " + position + " beyond the session's " + tokens + " tokens");
                if (position < starts[l][h]) continue; // a window's block partly before the window
                if (policy.isFull(l, h)) {
                    cache.writeFull(l, h, (int) position, keys, i * hs, values, i * hs);
                } else {
                    int slot = (int) (position - starts[l][h]);
                    System.arraycopy(keys, i * hs, blockKeys[l][h], slot * hs, hs);
                    System.arraycopy(values, i * hs, blockValues[l][h], slot * hs, hs);
                }
                covered[l][h]++;
            }
            return true;
        });
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                String at = where + ", layer " + l + ", KV head " + h;
                HeadSpec spec = policy.spec(l, h);
                long expected = starts[l][h] < 0 ? 0 : tokens - starts[l][h];
                if (covered[l][h] != expected)
                    throw new StoreFormatException(at + ": " + covered[l][h] + " of " + expected + " positions stored");
                if (policy.isFull(l, h)) continue;
                ByteBuffer r = records[l][h];
                if (r == null) {
                    if (tokens == 0) continue;
                    throw new StoreFormatException(at + ": head record missing");
                }
                try {
                    HeadRecord.Reader reader = HeadRecordCodec.reader(r, m.precision(), hs, at);
                    cache.restoreHead(l, h, spec.readRecord(hs, tokens, reader, blockKeys[l][h], blockValues[l][h]));
                } catch (IllegalArgumentException | BufferUnderflowException e) {
                    throw new StoreFormatException(at + ", head record: " + e.getMessage());
                }
            }
        }
        restoreUndo(session, where);
        session.restoreBookkeeping(m);
        session.stored = true;
        session.persistedTokens = tokens;
        session.persistedPromptEnd = m.promptEnd();
        session.persistedShifts = m.shifts();
        return Optional.of(session);
    }

    /**
     * The undo records of the turns that can be taken back: into the compressed heads, the cache's marks and the
     * session's.
     */
    private void restoreUndo(Session session, String where) {
        KvCache cache = session.cache();
        TreeMap<Long, List<byte[]>> parts = new TreeMap<>();
        byte[] prefix = SessionKeys.undoPrefix(session.id());
        backend.scan(prefix, SessionKeys.after(prefix), (key, value) -> {
            parts.computeIfAbsent(SessionKeys.markOfUndo(key), k -> new ArrayList<>())
                    .add(value);
            return true;
        });
        List<UndoRecordCodec.Decoded> records = new ArrayList<>();
        parts.forEach((seq, values) ->
                records.add(UndoRecordCodec.decode(values, seq, cache, where + ", undo record " + seq)));
        if (records.isEmpty()) return;
        try {
            cache.restoreMarks(
                    records.stream().map(UndoRecordCodec.Decoded::mark).toList());
        } catch (IllegalArgumentException e) {
            throw new StoreFormatException(where + ", undo records: " + e.getMessage());
        }
        session.restoreMarks(records.stream().map(UndoRecordCodec.Decoded::turn).toList());
    }

    /** The stored record of an applied turn id, or empty. */
    public Optional<AppliedTurn> appliedTurn(String sessionId, String turnId) {
        byte[] value = backend.get(SessionKeys.turn(sessionId, turnId));
        return value == null
                ? Optional.empty()
                : Optional.of(AppliedTurn.decode(turnId, value, "session '" + sessionId + "', turn '" + turnId + "'"));
    }

    /**
     * Deletes every key of the session (its metadata, its whole data range, its turn and undo records) in one batch.
     */
    public void delete(String sessionId) {
        WriteBatchBuilder batch = new WriteBatchBuilder();
        batch.delete(SessionKeys.meta(sessionId));
        for (byte[] prefix : List.of(
                SessionKeys.dataPrefix(sessionId),
                SessionKeys.turnPrefix(sessionId),
                SessionKeys.undoPrefix(sessionId))) {
            batch.deleteRange(prefix, SessionKeys.after(prefix));
        }
        backend.write(batch);
    }

    /**
     * A SHA-256 of what the session's cache is as stored: every data record (key less the session id, and value, in key
     * order), every undo record's value (oldest first; their numbers are only names) and the metadata less the
     * session's id, applied-turn count and activity time. Two sessions with equal digests hold the same cache bit for
     * bit, the same bookkeeping and the same undo records, whatever their ids.
     */
    public byte[] contentDigest(String sessionId) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        SessionMeta m =
                meta(sessionId).orElseThrow(() -> new IllegalArgumentException("no session '" + sessionId + "'"));
        sha.update(new SessionMeta(
                        "",
                        m.modelFingerprint(),
                        m.profileFingerprint(),
                        m.precision(),
                        m.policy(),
                        m.blockSize(),
                        m.tokens(),
                        m.promptEnd(),
                        m.chatTemplate(),
                        m.pendingTokens(),
                        m.lastRole(),
                        m.afterReply(),
                        0,
                        0,
                        m.positionOffset(),
                        m.shifts(),
                        m.undoBytes(),
                        m.undoableTurns(),
                        List.of(),
                        m.history())
                .encode());
        byte[] data = SessionKeys.dataPrefix(sessionId), undo = SessionKeys.undoPrefix(sessionId);
        backend.scan(data, SessionKeys.after(data), (k, v) -> {
            sha.update(k, data.length, k.length - data.length);
            sha.update(v);
            return true;
        });
        backend.scan(undo, SessionKeys.after(undo), (k, v) -> {
            sha.update(v);
            return true;
        });
        return sha.digest();
    }

    /** Bytes of keys and values the session occupies in the store (before RocksDB's own compression). */
    public long storedBytes(String sessionId) {
        long[] bytes = {0};
        byte[] meta = SessionKeys.meta(sessionId);
        byte[] m = backend.get(meta);
        if (m != null) bytes[0] += meta.length + m.length;
        for (byte[] prefix : List.of(
                SessionKeys.dataPrefix(sessionId),
                SessionKeys.turnPrefix(sessionId),
                SessionKeys.undoPrefix(sessionId))) {
            backend.scan(prefix, SessionKeys.after(prefix), (k, v) -> {
                bytes[0] += k.length + v.length;
                return true;
            });
        }
        return bytes[0];
    }

    /**
     * Up to {@code limit} sessions' metadata in key order, starting after {@code afterSessionId} (null: from the
     * start).
     */
    public List<SessionMeta> list(String afterSessionId, int limit) {
        List<SessionMeta> out = new ArrayList<>();
        byte[] from =
                afterSessionId == null ? SessionKeys.metaStart() : SessionKeys.after(SessionKeys.meta(afterSessionId));
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
        return expireIdle(nowMillis, ttl, id -> false);
    }

    /**
     * As {@link #expireIdle(long, Duration)}, sparing the sessions {@code inUse} names (a turn of theirs is under way).
     */
    public List<String> expireIdle(long nowMillis, Duration ttl, Predicate<String> inUse) {
        List<String> idle = new ArrayList<>();
        backend.scan(SessionKeys.metaStart(), SessionKeys.metaEnd(), (k, v) -> {
            decodeOrSkip(k, v)
                    .filter(m -> m.lastActivityMillis() < nowMillis - ttl.toMillis() && !inUse.test(m.sessionId()))
                    .ifPresent(m -> idle.add(m.sessionId()));
            return true;
        });
        for (String id : idle) delete(id);
        return idle;
    }
}
