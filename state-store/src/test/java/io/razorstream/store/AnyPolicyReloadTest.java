package io.razorstream.store;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.synth.SynthModel;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Any cache policy persists and reloads through the store: H2O, SnapKV (before and after its one compression), a grid
 * that mixes every head kind, and a policy the store and the engine have never heard of (the toy {@link EveryNthToken},
 * alone and in a mixed grid) give bit-identical logits after a reload, and the metadata's size figure is the cache's
 * own.
 */
class AnyPolicyReloadTest {
    private static KvPolicy policy(String name) {
        int layers = SynthModel.LAYERS, heads = SynthModel.HEADS;
        return switch (name) {
            case "h2o" -> KvPolicy.heavyHitters(layers, heads, 48, 16);
            case "snapkv", "snapkv-open" -> KvPolicy.snapKV(layers, heads, 48, 16);
            case "mixed" -> {
                HeadSpec[] kinds = {
                    HeadSpec.FULL,
                    new HeadSpec.Window(new WindowParams(4, 32, 1_000_000)),
                    new HeadSpec.HeavyHitters(40, 8),
                    new HeadSpec.Snap(40, 8, KvPolicy.SNAP_OBSERVE)
                };
                HeadSpec[][] grid = new HeadSpec[layers][heads];
                for (int l = 0; l < layers; l++)
                    for (int h = 0; h < heads; h++) grid[l][h] = kinds[(l + h) % kinds.length];
                yield new KvPolicy(grid);
            }
            case "every-third" -> KvPolicy.uniform(layers, heads, new EveryNthToken(3));
            case "mixed-toy" -> {
                HeadSpec[] kinds = {
                    HeadSpec.FULL,
                    new HeadSpec.Window(new WindowParams(4, 32, 1_000_000)),
                    new EveryNthToken(2),
                    new HeadSpec.HeavyHitters(40, 8),
                    new EveryNthToken(5)
                };
                HeadSpec[][] grid = new HeadSpec[layers][heads];
                for (int l = 0; l < layers; l++)
                    for (int h = 0; h < heads; h++) grid[l][h] = kinds[(l + h) % kinds.length];
                yield new KvPolicy(grid);
            }
            default -> throw new IllegalArgumentException(name);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2o", "snapkv", "snapkv-open", "mixed", "every-third", "mixed-toy"})
    void reloadedSessionGivesIdenticalLogits(String name, @TempDir Path dir) {
        LoadedModel m = SynthSessions.model();
        try (RocksBackend db = new RocksBackend(dir, false);
                Parallel p = new Parallel(2)) {
            SessionStore store = new SessionStore(db);
            Session live = Session.create(
                    "s",
                    m.model().config(),
                    policy(name),
                    KvPrecision.F16,
                    m.gguf().fingerprint(),
                    "synth",
                    32);
            Random r = new Random(7);
            SynthSessions.turn(live, "The code is #K7Q2. " + SessionLogitsTest.filler(r, 200), 64, 2, p);
            store.save(live, 1);
            if (!name.equals("snapkv-open")) live.cache().compressNow(); // SnapKV compresses at the end of the prompt
            store.save(live, 2);
            SynthSessions.turn(live, SessionLogitsTest.filler(r, 40), 1, 3, p);
            store.save(live, 3);

            Session loaded =
                    store.load("s", m.model().config(), m.gguf().fingerprint()).orElseThrow();
            assertThat(loaded.cache().policy()).isEqualTo(live.cache().policy());
            assertThat(loaded.cache().promptEnd()).isEqualTo(live.cache().promptEnd());
            assertThat(store.meta("s").orElseThrow().kvBytes(SynthModel.HEAD_SIZE))
                    .isEqualTo(live.cache().bytesInUse());
            float[] a = SynthSessions.turn(live, " Remember the code #", 8, 4, p);
            float[] b = SynthSessions.turn(loaded, " Remember the code #", 8, 4, p);
            assertThat(b).as(name).isEqualTo(a);
            assertThat(loaded.cache().bytesInUse()).isEqualTo(live.cache().bytesInUse());
            for (int l = 0; l < SynthModel.LAYERS; l++) {
                for (int h = 0; h < SynthModel.HEADS; h++) {
                    var head = loaded.cache().compressed(l, h);
                    if (head != null) { // what a head holds is what its spec's formula says
                        assertThat((long) head.entries())
                                .as("%s (%d, %d)", name, l, h)
                                .isEqualTo(loaded.cache()
                                        .policy()
                                        .spec(l, h)
                                        .entries(
                                                loaded.cache().size(),
                                                loaded.cache().promptEnd()));
                    }
                }
            }
            // SnapKV keeps everything until its prompt ends; the others are bounded already
            if (!name.equals("snapkv-open"))
                assertThat(live.cache().bytesInUse()).isLessThan(live.cache().fullBytes() / 2);
        }
    }
}
