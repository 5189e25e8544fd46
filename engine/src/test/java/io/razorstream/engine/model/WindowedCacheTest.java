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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The model running on a cache whose KV heads follow a RazorAttention policy (some FULL, some WINDOW). */
class WindowedCacheTest {
    @TempDir
    static Path dir;

    static GgufFile file;
    static Transformer model;
    static Parallel parallel;
    static final int TOKENS = 200;

    @BeforeAll
    static void load() {
        TinyLlamaFiles.Spec spec = TinyLlamaFiles.Spec.defaults().withContext(256);
        file = GgufFile.open(TinyLlamaFiles.write(dir.resolve("tiny.gguf"), spec));
        model = Transformer.load(file);
        parallel = new Parallel(2);
    }

    @AfterAll
    static void close() {
        parallel.close();
        file.close();
    }

    static int[] tokens() {
        Random r = new Random(3);
        int[] t = new int[TOKENS];
        t[0] = 1;
        for (int i = 1; i < t.length; i++) t[i] = r.nextInt(300);
        return t;
    }

    static float[][] run(KvCache cache, int... batches) {
        int[] toks = tokens();
        List<float[]> out = new ArrayList<>();
        int from = 0;
        for (int n : batches) {
            out.addAll(Arrays.asList(model.forward(cache, toks, from, n, true, parallel)));
            from += n;
        }
        return out.toArray(float[][]::new);
    }

    static int[] ones() {
        int[] b = new int[TOKENS];
        Arrays.fill(b, 1);
        return b;
    }

    /** Layer 0 KV head 0 keeps everything; every other head keeps 2 sinks + 8 recent + compensation. */
    static KvPolicy mixed() {
        return KvPolicy.razor(new boolean[][] {{true, false}, {false, false}}, new WindowParams(2, 8, 1000));
    }

    @Test
    void windowHeadsThatNeverEvictGiveTheFullCachesLogits() {
        KvPolicy allWindow = KvPolicy.razor(new boolean[2][2], new WindowParams(4, 1000, 1000));
        float[][] full = run(model.newCache(TOKENS, KvPrecision.F32), ones());
        float[][] windowed = run(model.newCache(TOKENS, KvPrecision.F32, allWindow), ones());
        // Same math, different summation order (a window head's runs vs one run): fp32 rounding only.
        assertThat(ReferenceLlama.maxAbsDiff(full, windowed)).isLessThan(1e-4);
    }

    @Test
    void prefillBatchesAndDecodeAgreeToTheBitUnderEviction() {
        float[][] decode = run(model.newCache(TOKENS, KvPrecision.F32, mixed()), ones());
        for (int[] batches : new int[][] {{TOKENS}, {37, 63, 100}, {5, 1, 194}}) {
            assertThat(run(model.newCache(TOKENS, KvPrecision.F32, mixed()), batches))
                    .as(Arrays.toString(batches))
                    .isDeepEqualTo(decode);
        }
        // And eviction does change what the model sees (the test above would pass on a cache that ignores the policy).
        float[][] full = run(model.newCache(TOKENS, KvPrecision.F32), ones());
        assertThat(ReferenceLlama.maxAbsDiff(full, decode)).isGreaterThan(1e-3);
    }

    @Test
    void windowHeadsStayBoundedAndTheCacheReportsItsExactSize() {
        KvCache cache = model.newCache(TOKENS, KvPrecision.F16, mixed());
        run(cache, 60, 1, 1, 138);
        long expected = 0;
        for (int l = 0; l < 2; l++) {
            for (int h = 0; h < 2; h++) {
                WindowHead head = cache.compressed(l, h) instanceof WindowHead w ? w : null;
                if (cache.policy().isFull(l, h)) {
                    assertThat(head).isNull();
                    expected += (long) TOKENS * 16 * 2 * 2;
                } else {
                    WindowParams w = ((HeadSpec.Window) cache.policy().spec(l, h)).params();
                    assertThat((long) head.entries())
                            .isLessThanOrEqualTo(w.maxEntries(TOKENS))
                            .isEqualTo(2 + 8 + 1);
                    assertThat(head.evictedCount()).isEqualTo(TOKENS - 10);
                    expected += (2 + 8) * 16 * 2 * 2 + 16 * 2 * 4 + 8;
                }
            }
        }
        assertThat(cache.bytesInUse()).isEqualTo(expected);
        assertThat(cache.fullBytes()).isEqualTo((long) TOKENS * 2 * 2 * 16 * 2 * 2);
        assertThat(cache.fullBytes() / (double) cache.bytesInUse()).isGreaterThan(3.0);
    }
}
