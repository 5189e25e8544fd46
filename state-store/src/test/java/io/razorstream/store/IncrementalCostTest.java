package io.razorstream.store;

import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.RandomContext;
import io.razorstream.engine.attention.WindowParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static io.razorstream.store.Caches.TINYLLAMA;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A turn costs writes proportional to its new tokens, not to the session's length: on a TinyLlama-shaped session
 * already 20k tokens long (Razor, paper settings), each of 50 turns of 20-200 tokens writes at most 1.2 x (new tokens x
 * bytes per token over all heads) + a constant, measured as RocksDB's own WriteBatch size. The constant is what the
 * layout rewrites whatever the turn's length: each head's last partial block (up to B - 1 tokens), each window head's
 * record (sinks, fp32 sums), the metadata, and keys.
 */
class IncrementalCostTest {
    @Test
    void bytesWrittenPerTurnFollowTheNewTokens(@TempDir Path dir) {
        int block = 32, heads = TINYLLAMA.blockCount() * TINYLLAMA.kvHeadCount(), hs = TINYLLAMA.headSize();
        KvPrecision precision = KvPrecision.F16;
        long vector = precision.vectorBytes(hs);
        long bytesPerToken = heads * 2L * vector;
        WindowParams paper = WindowParams.PAPER;
        long constant =
                heads * ((block - 1) * 2L * vector + 2L * paper.sinks() * vector + 2L * hs * Float.BYTES + 256) + 4096;
        try (RocksBackend db = new RocksBackend(dir, false)) {
            SessionStore store = new SessionStore(db);
            Session s = Caches.session(
                    "long",
                    TINYLLAMA,
                    Caches.razor(TINYLLAMA, 7, paper),
                    precision,
                    block); // 13 of 88 heads full (15%)
            RandomContext.append(s.cache(), 20_000, 1);
            store.save(s, 0);
            long whole = db.lastBatchDataSize();
            SplittableRandom r = new SplittableRandom(2);
            long written = 0, newTokens = 0;
            for (int turn = 1; turn <= 50; turn++) {
                int n = 20 + r.nextInt(181);
                RandomContext.append(s.cache(), n, r.nextLong());
                store.save(s, turn);
                long bytes = db.lastBatchDataSize();
                assertThat(bytes)
                        .as("turn %d, %d new tokens", turn, n)
                        .isLessThanOrEqualTo((long) (1.2 * n * bytesPerToken) + constant);
                written += bytes;
                newTokens += n;
            }
            // For scale: one turn writes ~1/100 of what rewriting the session would.
            System.out.printf(
                    "20k-token session: first save %,d bytes; 50 turns, %d new "
                            + "tokens: %,d bytes written (%.0f per new token; " + "%,d per token over all heads)%n",
                    whole, newTokens, written, written / (double) newTokens, bytesPerToken);
            assertThat(written).isLessThanOrEqualTo((long) (1.2 * newTokens * bytesPerToken) + 50 * constant);
            assertThat(written / 50).isLessThan(whole / 20);
        }
    }
}
