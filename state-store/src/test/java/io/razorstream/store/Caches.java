package io.razorstream.store;

import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowHead;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.model.ModelConfig;

import static org.assertj.core.api.Assertions.assertThat;

/** Test helpers: model shapes without weights, Razor policies, and a deep comparison of two caches. */
final class Caches {
    private Caches() {}

    /** A small shape: 3 layers x 4 KV heads of 16, 4k context. */
    static final ModelConfig SMALL = new ModelConfig(128, 3, 8, 4, 16, 256, 300, 4096, 1e-5f, 10000f, 16);
    /** TinyLlama-1.1B's shape: 22 layers x 4 KV heads of 64. */
    static final ModelConfig TINYLLAMA = new ModelConfig(2048, 22, 32, 4, 64, 5632, 32000, 65536, 1e-5f, 10000f, 64);

    /** Razor over {@code config}: every {@code every}-th KV head (in layer-major order) full, the rest windowed. */
    static KvPolicy razor(ModelConfig config, int every, WindowParams window) {
        boolean[][] full = new boolean[config.blockCount()][config.kvHeadCount()];
        for (int i = 0; i < config.blockCount() * config.kvHeadCount(); i += every)
            full[i / config.kvHeadCount()][i % config.kvHeadCount()] = true;
        return KvPolicy.razor(full, window);
    }

    static Session session(String id, ModelConfig config, KvPolicy policy, KvPrecision precision, int blockSize) {
        return Session.create(id, config, policy, precision, "model-fp", "profile-fp", blockSize);
    }

    /** Every stored number of the two caches is identical. */
    static void assertSameContents(KvCache a, KvCache b) {
        assertThat(b.size()).isEqualTo(a.size());
        assertThat(b.position()).isEqualTo(a.position());
        assertThat(b.shifts()).isEqualTo(a.shifts());
        assertThat(b.policy()).isEqualTo(a.policy());
        int hs = a.headSize();
        float[] ka = new float[hs], va = new float[hs], kb = new float[hs], vb = new float[hs];
        for (int l = 0; l < a.layers(); l++) {
            for (int h = 0; h < a.kvHeads(); h++) {
                WindowHead wa = a.compressed(l, h) instanceof WindowHead w ? w : null,
                        wb = b.compressed(l, h) instanceof WindowHead w ? w : null;
                if (wa == null) {
                    assertThat(wb).isNull();
                    for (int p = 0; p < a.size(); p++) {
                        a.readFull(l, h, p, ka, 0, va, 0);
                        b.readFull(l, h, p, kb, 0, vb, 0);
                        assertThat(kb)
                                .as("layer %d head %d position %d key", l, h, p)
                                .isEqualTo(ka);
                        assertThat(vb)
                                .as("layer %d head %d position %d value", l, h, p)
                                .isEqualTo(va);
                    }
                    continue;
                }
                assertThat(wb.tokens()).isEqualTo(wa.tokens());
                assertThat(wb.sinkCount()).isEqualTo(wa.sinkCount());
                assertThat(wb.windowCount()).isEqualTo(wa.windowCount());
                assertThat(wb.evictedCount()).isEqualTo(wa.evictedCount());
                assertThat(wb.sumKeys()).isEqualTo(wa.sumKeys());
                assertThat(wb.sumValues()).isEqualTo(wa.sumValues());
                for (int i = 0; i < wa.keptCount(); i++) {
                    wa.keptKey(i, ka, 0);
                    wb.keptKey(i, kb, 0);
                    wa.keptValue(i, va, 0);
                    wb.keptValue(i, vb, 0);
                    assertThat(kb).as("layer %d head %d kept %d key", l, h, i).isEqualTo(ka);
                    assertThat(vb).as("layer %d head %d kept %d value", l, h, i).isEqualTo(va);
                }
            }
        }
    }
}
