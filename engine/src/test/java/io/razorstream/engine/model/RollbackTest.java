package io.razorstream.engine.model;

import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowHead;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.kernel.Parallel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Taking turns back: a cache that ran turns A, B and C and rolled back two of them is, bit for bit, the cache that only
 * ran A (FULL heads by their length, window heads through their undo records, with entries B evicted from the window
 * and folded into the compensation token); and the next turn gives identical logits on both.
 */
class RollbackTest {
    @TempDir
    static Path dir;

    static GgufFile file;
    static Transformer model;
    static Parallel parallel;

    @BeforeAll
    static void load() {
        file = GgufFile.open(TinyLlamaFiles.write(
                dir.resolve("tiny.gguf"), TinyLlamaFiles.Spec.defaults().withContext(256)));
        model = Transformer.load(file);
        parallel = new Parallel(2);
    }

    @AfterAll
    static void close() {
        parallel.close();
        file.close();
    }

    /**
     * Layer 0 KV head 0 keeps everything; the other heads keep 2 sinks + 8 recent + compensation, or drop what they
     * evict.
     */
    static KvCache newCache() {
        KvPolicy policy = KvPolicy.razor(new boolean[][] {{true, false}, {false, false}}, new WindowParams(2, 8, 1000));
        HeadSpec[][] heads = new HeadSpec[2][2];
        for (int l = 0; l < 2; l++) for (int h = 0; h < 2; h++) heads[l][h] = policy.spec(l, h);
        heads[1][1] = new HeadSpec.Window(new WindowParams(2, 8, 1000).withoutCompensation());
        return new KvCache(model.config().cacheShape(), 256, KvPrecision.F16, new KvPolicy(heads));
    }

    static int[] turn(long seed, int n) {
        Random r = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = 3 + r.nextInt(290);
        return t;
    }

    static float[] run(KvCache cache, int[] tokens, int batch) {
        float[] last = null;
        for (int from = 0; from < tokens.length; from += batch)
            last = model.forward(cache, tokens, from, Math.min(batch, tokens.length - from), parallel);
        return last;
    }

    static void assertSameCache(KvCache a, KvCache b) {
        assertThat(a.size()).isEqualTo(b.size());
        int hs = a.headSize();
        for (int l = 0; l < a.layers(); l++) {
            for (int h = 0; h < a.kvHeads(); h++) {
                WindowHead wa = a.compressed(l, h) instanceof WindowHead w ? w : null,
                        wb = b.compressed(l, h) instanceof WindowHead w ? w : null;
                if (wa == null) {
                    float[] ka = new float[hs], va = new float[hs], kb = new float[hs], vb = new float[hs];
                    for (int p = 0; p < a.size(); p++) {
                        a.readFull(l, h, p, ka, 0, va, 0);
                        b.readFull(l, h, p, kb, 0, vb, 0);
                        assertThat(ka).as("FULL key %d/%d at %d", l, h, p).isEqualTo(kb);
                        assertThat(va).as("FULL value %d/%d at %d", l, h, p).isEqualTo(vb);
                    }
                    continue;
                }
                assertThat(wa.tokens()).isEqualTo(wb.tokens());
                assertThat(wa.sinkCount()).isEqualTo(wb.sinkCount());
                assertThat(wa.windowCount()).as("window %d/%d", l, h).isEqualTo(wb.windowCount());
                assertThat(wa.evictedCount()).isEqualTo(wb.evictedCount());
                assertThat(wa.sumKeys()).isEqualTo(wb.sumKeys());
                assertThat(wa.sumValues()).isEqualTo(wb.sumValues());
                float[] x = new float[hs], y = new float[hs];
                for (int i = 0; i < wa.keptCount(); i++) {
                    wa.keptKey(i, x, 0);
                    wb.keptKey(i, y, 0);
                    assertThat(x).as("kept key %d of %d/%d", i, l, h).isEqualTo(y);
                    wa.keptValue(i, x, 0);
                    wb.keptValue(i, y, 0);
                    assertThat(x).isEqualTo(y);
                }
            }
        }
    }

    @Test
    void rollingBackTwoTurnsGivesTheCacheOfTheFirstTurnAlone() {
        int[] a = turn(1, 13), b = turn(2, 21), c = turn(3, 6), d = turn(4, 9);
        KvCache undone = newCache(), plain = newCache();
        run(plain, a, 5);
        run(undone, a, 5);
        undone.mark(4);
        run(undone, b, 7);
        undone.mark(4);
        run(undone, c, 1);
        assertThat(((WindowHead) undone.compressed(0, 1)).evictedCount())
                .as("turn B evicted entries of turn A")
                .isGreaterThan(0);
        undone.rollback(2);
        assertSameCache(undone, plain);
        assertThat(run(undone, d, 4)).as("the next turn's logits").isEqualTo(run(plain, d, 4));
        assertSameCache(undone, plain);
    }

    @Test
    void marksAreBoundedAndHeadsThatEvictByAttentionRefuse() {
        KvCache cache = newCache();
        for (int i = 0; i < 6; i++) {
            run(cache, turn(10 + i, 3), 3);
            cache.mark(4);
        }
        assertThat(cache.marks()).isEqualTo(4);
        assertThatThrownBy(() -> cache.rollback(5))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("cannot roll back 5 turns: 4 can be taken back");
        KvCache heavy =
                new KvCache(model.config().cacheShape(), 64, KvPrecision.F16, KvPolicy.heavyHitters(2, 2, 8, 4));
        assertThatThrownBy(() -> heavy.mark(4))
                .isInstanceOf(UnsupportedOperationException.class)
                .hasMessageContaining("cannot take turns back");
    }
}
