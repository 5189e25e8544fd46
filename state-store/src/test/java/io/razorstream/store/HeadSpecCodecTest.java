package io.razorstream.store;

import io.razorstream.engine.attention.CompressedHead;
import io.razorstream.engine.attention.HeadRecord;
import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.RandomContext;
import io.razorstream.engine.attention.WindowParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The metadata's policy codec follows from the spec records: any HeadSpec record round-trips (every component type the
 * codec writes), equal specs are written once, and what is not a HeadSpec record, an unknown kind or damaged bytes are
 * refused with a message that says so. Sessions written before (store format 3, per-head kind tags) still load.
 */
class HeadSpecCodecTest {
    enum Mode {
        FAST,
        EXACT
    }

    record Nested(int a, WindowParams window) {}

    /** A spec of every component type the codec writes (it keeps nothing: only its codec matters here). */
    record AllTypes(
            boolean flag,
            byte b,
            short s,
            char c,
            int i,
            long l,
            float f,
            double d,
            String name,
            Mode mode,
            Nested nested)
            implements HeadSpec {
        @Override
        public CompressedHead newHead(int headSize) {
            return null;
        }

        @Override
        public long kept(long tokens, long promptTokens) {
            return tokens;
        }

        @Override
        public String label() {
            return "all-types";
        }

        @Override
        public CompressedHead readRecord(
                int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
            return null;
        }
    }

    /** A HeadSpec that is not a record: the store cannot write it from components, nor make one from bytes. */
    static final class NotARecord implements HeadSpec {
        @Override
        public CompressedHead newHead(int headSize) {
            return null;
        }

        @Override
        public long kept(long tokens, long promptTokens) {
            return tokens;
        }

        @Override
        public String label() {
            return "not-a-record";
        }

        @Override
        public CompressedHead readRecord(
                int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
            return null;
        }
    }

    /** A HeadSpec record with a component the codec does not write. */
    record WithArray(int[] sizes) implements HeadSpec {
        @Override
        public CompressedHead newHead(int headSize) {
            return null;
        }

        @Override
        public long kept(long tokens, long promptTokens) {
            return tokens;
        }

        @Override
        public String label() {
            return "with-array";
        }

        @Override
        public CompressedHead readRecord(
                int headSize, long tokens, HeadRecord.Reader in, float[] blockKeys, float[] blockValues) {
            return null;
        }
    }

    private static KvPolicy roundTrip(KvPolicy policy) {
        ByteBuffer b = ByteBuffer.wrap(HeadSpecCodec.encode(policy)).order(ByteOrder.LITTLE_ENDIAN);
        KvPolicy back = HeadSpecCodec.decode(b);
        assertThat(b.hasRemaining()).isFalse();
        return back;
    }

    @Test
    void everyKindAndEveryComponentTypeRoundTrips() {
        HeadSpec all = new AllTypes(
                true,
                (byte) -7,
                (short) 300,
                'ß',
                -123456,
                Long.MIN_VALUE + 5,
                0.1f,
                Math.PI,
                "naïve",
                Mode.EXACT,
                new Nested(9, new WindowParams(4, 32, 5, false, 77)));
        HeadSpec[] kinds = {
            HeadSpec.FULL,
            new HeadSpec.Window(new WindowParams(4, 32, 5)),
            new HeadSpec.Window(WindowParams.sliding(512)),
            new HeadSpec.Window(new WindowParams(4, 32, 5).withMaxWindow(100)),
            new HeadSpec.HeavyHitters(40, 8),
            new HeadSpec.Snap(40, 8, KvPolicy.SNAP_OBSERVE),
            HeadSpec.MASKED,
            new HeadSpec.Gated(0.25f, new WindowParams(4, 16, 1000)),
            new EveryNthToken(3),
            all
        };
        HeadSpec[][] grid = new HeadSpec[3][kinds.length];
        for (int l = 0; l < grid.length; l++)
            for (int h = 0; h < kinds.length; h++) grid[l][h] = kinds[(l + h) % kinds.length];
        KvPolicy policy = new KvPolicy(grid);
        assertThat(roundTrip(policy)).isEqualTo(policy);
        // Built-in kinds are named by their simple names, the others by their binary names.
        assertThat(HeadSpecCodec.kind(HeadSpec.Window.class)).isEqualTo("Window");
        assertThat(HeadSpecCodec.kind(EveryNthToken.class)).isEqualTo("io.razorstream.store.EveryNthToken");
    }

    @Test
    void equalSpecsAreWrittenOnceAndManyDistinctOnesStillFit() {
        KvPolicy razor = Caches.razor(Caches.TINYLLAMA, 3, new WindowParams(4, 64, 5));
        // two distinct specs and one byte per head: the metadata is written every turn
        assertThat(HeadSpecCodec.encode(razor).length).isLessThan(4 + 4 + 2 * 40 + 22 * 4 + 1);
        assertThat(roundTrip(razor)).isEqualTo(razor);
        HeadSpec[][] grid = new HeadSpec[40][10]; // 400 distinct specs: two-byte indices
        for (int l = 0; l < 40; l++) for (int h = 0; h < 10; h++) grid[l][h] = new EveryNthToken(1 + l * 10 + h);
        KvPolicy many = new KvPolicy(grid);
        assertThat(roundTrip(many)).isEqualTo(many);
    }

    /** One spec's bytes as the codec lays them out: kind, component bytes. */
    private static byte[] spec(String kind, byte[] components) {
        byte[] k = kind.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + k.length + components.length)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putShort((short) k.length)
                .put(k)
                .putShort((short) components.length)
                .put(components)
                .array();
    }

    /** A 1 x 1 policy of one spec. */
    private static ByteBuffer policy(byte[] spec) {
        return ByteBuffer.allocate(8 + spec.length + 1)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putShort((short) 1)
                .putShort((short) 1)
                .putInt(1)
                .put(spec)
                .put((byte) 0)
                .flip();
    }

    private static byte[] ints(int... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) b.putInt(v);
        return b.array();
    }

    @Test
    void whatIsNotAHeadSpecRecordIsRefusedClearly() {
        assertThatThrownBy(() -> HeadSpecCodec.encode(KvPolicy.uniform(1, 1, new NotARecord())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(NotARecord.class.getName())
                .hasMessageContaining("is not a record");
        assertThatThrownBy(() -> HeadSpecCodec.encode(KvPolicy.uniform(1, 1, new WithArray(new int[] {1}))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("sizes")
                .hasMessageContaining("[I");
        // Bytes naming a class that is not a HeadSpec record: never instantiated, never a ClassCastException.
        for (String kind : List.of(
                NotARecord.class.getName(),
                "java.lang.String",
                WindowParams.class.getName(),
                Nested.class.getName(),
                "java.lang.ProcessBuilder",
                "[Ljava.lang.String;")) {
            assertThatThrownBy(() -> HeadSpecCodec.decode(policy(spec(kind, new byte[0]))))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'" + kind + "'")
                    .hasMessageContaining("not a record implementing HeadSpec");
        }
        assertThatThrownBy(() -> HeadSpecCodec.decode(policy(spec("io.razorstream.store.NoSuchSpec", ints(3)))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown head spec kind 'io.razorstream.store.NoSuchSpec'");
        assertThatThrownBy(() -> HeadSpecCodec.decode(policy(spec("Windowz", new byte[0]))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown head spec kind 'Windowz'");
    }

    @Test
    void damagedBytesAreRefusedClearly() {
        String toy = EveryNthToken.class.getName();
        assertThat(HeadSpecCodec.decode(policy(spec(toy, ints(3)))).spec(0, 0)).isEqualTo(new EveryNthToken(3));
        assertThatThrownBy(() -> HeadSpecCodec.decode(policy(spec(toy, new byte[2]))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("head spec " + toy)
                .hasMessageContaining("end before");
        assertThatThrownBy(() -> HeadSpecCodec.decode(policy(spec(toy, ints(3, 4)))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4 of its 8 bytes left");
        // the record's own checks run
        assertThatThrownBy(() -> HeadSpecCodec.decode(policy(spec(toy, ints(0)))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("refuses")
                .hasMessageContaining("n must be >= 1");
        assertThatThrownBy(() -> HeadSpecCodec.decode(policy(spec("HeavyHitters", ints(4, 8)))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("H2O needs");
        ByteBuffer badIndex = policy(spec(toy, ints(3)));
        badIndex.put(badIndex.limit() - 1, (byte) 1);
        assertThatThrownBy(() -> HeadSpecCodec.decode(badIndex))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("names head spec 1 of 1");
        byte[] whole = HeadSpecCodec.encode(KvPolicy.uniform(2, 2, new EveryNthToken(2)));
        assertThatThrownBy(() -> HeadSpecCodec.decode(
                        ByteBuffer.wrap(Arrays.copyOf(whole, whole.length - 1)).order(ByteOrder.LITTLE_ENDIAN)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("truncated");
    }

    /** A metadata record whose policy names an unknown kind: the store says which, for which session. */
    @Test
    void aSessionWithAnUnknownKindIsRefusedByName(@TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session(
                    "u", Caches.SMALL, KvPolicy.uniform(3, 4, new EveryNthToken(2)), KvPrecision.F16, 16);
            RandomContext.append(s.cache(), 10, 1);
            store.save(s, 1);
            byte[] meta = db.get(SessionKeys.meta("u"));
            ByteBuffer payload = RecordCodec.unwrap(meta, RecordCodec.KIND_META, () -> "meta");
            byte[] bytes = new byte[payload.remaining()];
            payload.get(bytes);
            String renamed = new String(bytes, StandardCharsets.ISO_8859_1).replace("EveryNthToken", "EveryNthTokem");
            WriteBatchBuilder b = new WriteBatchBuilder();
            b.put(
                    SessionKeys.meta("u"),
                    RecordCodec.wrap(
                            RecordCodec.KIND_META, ByteBuffer.wrap(renamed.getBytes(StandardCharsets.ISO_8859_1))));
            db.write(b);
            assertThatThrownBy(() -> store.load("u", Caches.SMALL, "model-fp"))
                    .isInstanceOf(StoreFormatException.class)
                    .hasMessageContaining("session 'u'")
                    .hasMessageContaining("unknown head spec kind 'io.razorstream.store.EveryNthTokem'");
        }
    }

    /**
     * Store format 3's policy: per head a kind byte and its parameters (the layout this build reads but no longer
     * writes).
     */
    private static byte[] legacyPolicy(KvPolicy policy) {
        ByteBuffer b =
                ByteBuffer.allocate(4 + policy.layers() * policy.kvHeads() * 18).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) policy.layers()).putShort((short) policy.kvHeads());
        for (int l = 0; l < policy.layers(); l++) {
            for (int h = 0; h < policy.kvHeads(); h++) {
                switch (policy.spec(l, h)) {
                    case HeadSpec.Full f -> b.put((byte) 0);
                    case HeadSpec.Window w -> {
                        WindowParams p = w.params();
                        b.put((byte) (p.capped() ? 4 : 1))
                                .putInt(p.sinks())
                                .putInt(p.minWindow())
                                .putInt(p.compression())
                                .put((byte) (p.compensate() ? 1 : 0));
                        if (p.capped()) b.putInt(p.maxWindow());
                    }
                    case HeadSpec.HeavyHitters hh ->
                        b.put((byte) 2).putInt(hh.budget()).putInt(hh.recent());
                    case HeadSpec.Snap s ->
                        b.put((byte) 3).putInt(s.budget()).putInt(s.window()).putInt(s.observe());
                    case HeadSpec.Masked m -> b.put((byte) 5);
                    default -> throw new IllegalArgumentException("no format 3 tag for " + policy.spec(l, h));
                }
            }
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    /**
     * A session as a format 3 build wrote it (every record's envelope says 3, the metadata's policy has per-head tags)
     * loads into the same cache, with its undo records; saved again, it is written in format 4 and loads the same.
     */
    @Test
    void aSessionOfStoreFormat3StillLoads(@TempDir Path dir) {
        HeadSpec[][] grid = new HeadSpec[3][4];
        HeadSpec[] kinds = {
            HeadSpec.FULL,
            new HeadSpec.Window(new WindowParams(4, 16, 1000)),
            new HeadSpec.Window(new WindowParams(2, 8, 1000).withMaxWindow(12)),
            new HeadSpec.Window(new WindowParams(4, 16, 1000).withoutCompensation())
        };
        for (int l = 0; l < 3; l++) for (int h = 0; h < 4; h++) grid[l][h] = kinds[(l + h) % kinds.length];
        KvPolicy policy = new KvPolicy(grid);
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session("old", Caches.SMALL, policy, KvPrecision.F16, 16);
            RandomContext.append(s.cache(), 40, 1);
            store.save(s, 1);
            RandomContext.append(s.cache(), 30, 2);
            store.save(s, 2);
            // the session's records as format 3 wrote them: the same bytes in an envelope of version 3, the metadata's
            // policy tagged
            WriteBatchBuilder old = new WriteBatchBuilder();
            byte[] data = SessionKeys.dataPrefix("old");
            db.scan(data, SessionKeys.after(data), (k, v) -> {
                byte[] v3 = v.clone();
                v3[2] = 3;
                old.put(k, v3);
                return true;
            });
            byte[] meta = db.get(SessionKeys.meta("old"));
            ByteBuffer payload = RecordCodec.unwrap(meta, RecordCodec.KIND_META, () -> "meta");
            int policyAt = 0;
            for (int i = 0; i < 3; i++)
                policyAt += 4 + payload.getInt(policyAt); // session id, model and profile fingerprints
            policyAt += 1; // precision
            int policyEnd = policyAt + HeadSpecCodec.encode(policy).length;
            byte[] legacy = legacyPolicy(policy);
            ByteBuffer v3 = ByteBuffer.allocate(payload.limit() - (policyEnd - policyAt) + legacy.length);
            v3.put(payload.slice(0, policyAt))
                    .put(legacy)
                    .put(payload.slice(policyEnd, payload.limit() - policyEnd))
                    .flip();
            old.put(SessionKeys.meta("old"), RecordCodec.wrap(RecordCodec.KIND_META, v3, 3));
            db.write(old);
            assertThat(RecordCodec.version(db.get(SessionKeys.meta("old")))).isEqualTo(3);

            Session loaded = store.load("old", Caches.SMALL, "model-fp").orElseThrow();
            Caches.assertSameContents(s.cache(), loaded.cache());
            assertThat(store.meta("old").orElseThrow().policy()).isEqualTo(policy);
            RandomContext.append(loaded.cache(), 5, 3);
            RandomContext.append(s.cache(), 5, 3);
            store.save(loaded, 3);
            assertThat(RecordCodec.version(db.get(SessionKeys.meta("old")))).isEqualTo(RecordCodec.FORMAT_VERSION);
            Caches.assertSameContents(
                    s.cache(),
                    store.load("old", Caches.SMALL, "model-fp").orElseThrow().cache());
        }
    }
}
