package io.razorstream.store;

import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.RandomContext;
import io.razorstream.engine.attention.WindowParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A turn's changes are one RocksDB WriteBatch. A process that dies between turns, without closing the database, leaves
 * every saved turn readable; a batch that fails leaves the previous turn's state whole.
 */
class CrashSafetyTest {
    static final int[] TURNS = {120, 7, 64, 300, 1, 45};
    static final WindowParams WINDOW = new WindowParams(4, 40, 5);

    /** The crashing writer (run in a child JVM): saves {@code saved} turns, starts the next one in memory, halts. */
    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        int saved = Integer.parseInt(args[1]);
        RocksBackend db = new RocksBackend(dir, false);
        SessionStore store = new SessionStore(db);
        Session s = Caches.session("crash", Caches.SMALL, Caches.razor(Caches.SMALL, 3, WINDOW), KvPrecision.F16, 16);
        for (int t = 0; t < saved; t++) {
            RandomContext.append(s.cache(), TURNS[t], t);
            store.save(s, t);
        }
        RandomContext.append(s.cache(), TURNS[saved], saved);
        Runtime.getRuntime().halt(3); // no close, no flush: only the write-ahead log has the data
    }

    static Session expected(int turns) {
        Session s = Caches.session("crash", Caches.SMALL, Caches.razor(Caches.SMALL, 3, WINDOW), KvPrecision.F16, 16);
        for (int t = 0; t < turns; t++) RandomContext.append(s.cache(), TURNS[t], t);
        return s;
    }

    @Test
    void aProcessKilledBetweenTurnsLeavesTheSavedTurnsReadable(@TempDir Path dir) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(List.of(
                        java,
                        "--enable-native-access=ALL-UNNAMED",
                        "--add-modules",
                        "jdk.incubator.vector",
                        "-cp",
                        System.getProperty("java.class.path"),
                        CrashSafetyTest.class.getName(),
                        dir.toString(),
                        "4"))
                .redirectErrorStream(true)
                .redirectOutput(dir.resolveSibling(dir.getFileName() + ".log").toFile())
                .start();
        assertThat(child.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(child.exitValue()).as("the child halted itself").isEqualTo(3);
        try (RocksBackend db = new RocksBackend(dir, false)) {
            Session loaded =
                    new SessionStore(db).load("crash", Caches.SMALL, "model-fp").orElseThrow();
            Caches.assertSameContents(expected(4).cache(), loaded.cache());
        }
    }

    @Test
    void aFailedBatchLeavesThePreviousTurnWhole(@TempDir Path dir) {
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = expected(3);
            store.save(s, 1);
            StoreBackend failing = new StoreBackend() {
                public byte[] get(byte[] key) {
                    return db.get(key);
                }

                public void scan(byte[] from, byte[] to, Visitor v) {
                    db.scan(from, to, v);
                }

                public void write(WriteBatchBuilder batch) {
                    throw new IllegalStateException("disk full");
                }
            };
            Session next =
                    new SessionStore(db).load("crash", Caches.SMALL, "model-fp").orElseThrow();
            RandomContext.append(next.cache(), TURNS[3], 3);
            assertThatThrownBy(() -> new SessionStore(failing).save(next, 2)).hasMessageContaining("disk full");
            Caches.assertSameContents(
                    expected(3).cache(),
                    store.load("crash", Caches.SMALL, "model-fp").orElseThrow().cache());
        }
    }
}
