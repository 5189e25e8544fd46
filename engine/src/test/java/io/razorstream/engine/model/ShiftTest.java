package io.razorstream.engine.model;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.WindowHead;
import io.razorstream.engine.attention.WindowParams;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.Conversation;
import io.razorstream.engine.chat.ConversationState;
import io.razorstream.engine.chat.Message;
import io.razorstream.engine.chat.TurnRefused;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Context shift: the kept keys are re-rotated exactly (RoPE is a rotation: a layer-0 key, which depends only on its
 * token and position, shifted by -d equals the key computed at the position d earlier, up to float rounding; sinks and
 * values are untouched, bit for bit), every head then holds what its (changed) policy's formula says, and a
 * conversation over a small context keeps answering turn after turn where the refusing one stops.
 */
class ShiftTest {
    @TempDir
    static Path dir;

    @Test
    void shiftedKeysEqualKeysComputedAtTheShiftedPositions() throws Exception {
        Path file = dir.resolve("tiny.gguf");
        RandomModel.write(ModelShape.TINY, GgmlType.F32, 5, 256, file);
        try (LoadedModel loaded = LoadedModel.open(file);
                Parallel parallel = new Parallel(2)) {
            Transformer m = loaded.model();
            int n = 200, discard = 50, sinks = 4, hs = m.config().headSize();
            int[] s = new int[n];
            Random r = new Random(9);
            for (int i = 0; i < n; i++) s[i] = 3 + r.nextInt(500);
            KvCache shifted = m.newCache(256, KvPrecision.F32);
            m.forward(shifted, s, 0, n, parallel);
            shifted.shift(discard, shifted.shiftSinks(), m.rope().rotationBy(-discard));
            assertThat(shifted.size()).isEqualTo(n);
            assertThat(shifted.position()).isEqualTo(n - discard);
            assertThat(shifted.shifts()).isEqualTo(1);

            // The same tokens, placed where the shift moved them: sinks at 0..3, the rest from position 4 on.
            int[] moved = new int[n - discard];
            System.arraycopy(s, 0, moved, 0, sinks);
            System.arraycopy(s, sinks + discard, moved, sinks, n - discard - sinks);
            KvCache direct = m.newCache(256, KvPrecision.F32);
            m.forward(direct, moved, 0, moved.length, parallel);

            float[] a = new float[hs], b = new float[hs], va = new float[hs], vb = new float[hs];
            float worst = 0;
            for (int h = 0; h < m.config().kvHeadCount(); h++) {
                WindowHead head = (WindowHead) shifted.compressed(0, h);
                assertThat(head.sinkCount()).isEqualTo(sinks);
                assertThat(head.keptCount()).isEqualTo(n - discard);
                assertThat(head.evictedCount()).isEqualTo(discard);
                for (int p = 0; p < n - discard; p++) {
                    head.keptKey(p, a, 0);
                    head.keptValue(p, va, 0);
                    direct.readFull(0, h, p, b, 0, vb, 0);
                    assertThat(va).as("value at %d", p).isEqualTo(vb);
                    if (p < sinks) {
                        assertThat(a).as("sink %d keeps its position", p).isEqualTo(b);
                    } else {
                        for (int i = 0; i < hs; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
                    }
                }
            }
            System.out.println("re-rotated layer-0 keys: max |shifted - direct| = " + worst);
            assertThat(worst)
                    .as("re-rotated keys against keys computed at the new positions")
                    .isLessThan(1e-4f);
            assertThat(worst).as("the keys really moved (not the identity)").isGreaterThan(0f);
            float[] before = new float[hs];
            KvCache unshifted = m.newCache(256, KvPrecision.F32);
            m.forward(unshifted, s, 0, n, parallel);
            unshifted.readFull(0, 0, sinks + discard, before, 0, vb, 0);
            ((WindowHead) shifted.compressed(0, 0)).keptKey(sinks, a, 0);
            assertThat(a).as("a kept key changed by the shift").isNotEqualTo(before);
        }
    }

    @Test
    void aConversationKeepsAnsweringPastTheContextAndHeadsMatchTheirFormula() throws Exception {
        Path file = dir.resolve("tiny-128.gguf");
        RandomModel.write(ModelShape.TINY, GgmlType.Q8_0, 6, 128, file);
        try (LoadedModel loaded = LoadedModel.open(file);
                Parallel parallel = new Parallel(2)) {
            Transformer m = loaded.model();
            int layers = m.config().blockCount(), kvHeads = m.config().kvHeadCount();
            boolean[][] retrieval = new boolean[layers][kvHeads];
            for (int l = 0; l < layers; l++) retrieval[l][l % kvHeads] = true;
            KvPolicy policy = KvPolicy.razor(retrieval, new WindowParams(4, 16, 5));
            Decoder decoder = loaded.decoder(parallel);
            KvCache cache = m.newCache(128, KvPrecision.F16, policy);
            Conversation shifting = new Conversation(
                    decoder, ChatTemplate.PLAIN, cache, new ConversationState(), 128, Conversation.Overflow.SHIFT, 0);
            int shiftedTurns = 0;
            for (int t = 0; t < 30; t++) {
                Conversation.Turn turn = shifting.turn(
                        Message.user("turn " + t + " of a long day"),
                        true,
                        Decoder.Request.of(SamplerConfig.GREEDY, 8),
                        null);
                assertThat(turn.reply()).isNotNull();
                assertThat(turn.reply().tokens()).as("turn %d replied", t).isNotEmpty();
                assertThat(cache.position()).isLessThanOrEqualTo(128);
                if (turn.shiftedTokens() > 0) shiftedTurns++;
                for (int l = 0; l < layers; l++) {
                    for (int h = 0; h < kvHeads; h++) {
                        HeadSpec spec = cache.policy().spec(l, h);
                        if (cache.compressed(l, h) instanceof WindowHead w) {
                            assertThat((long) w.entries())
                                    .as("turn %d, head (%d, %d): entries against %s's formula", t, l, h, spec.label())
                                    .isEqualTo(spec.entries(cache.size(), -1));
                            assertThat((long) w.tokens()).isEqualTo(cache.size());
                        }
                    }
                }
            }
            assertThat(cache.size()).as("the conversation outgrew the context").isGreaterThan(128 * 2);
            assertThat(shiftedTurns).isEqualTo(cache.shifts()).isGreaterThan(1);
            for (int l = 0; l < layers; l++)
                for (int h = 0; h < kvHeads; h++)
                    assertThat(cache.policy().isFull(l, h)).isFalse();

            KvCache refusing = m.newCache(128, KvPrecision.F16, policy);
            Conversation refuse = new Conversation(
                    decoder,
                    ChatTemplate.PLAIN,
                    refusing,
                    new ConversationState(),
                    128,
                    Conversation.Overflow.REFUSE,
                    0);
            assertThatThrownBy(() -> {
                        for (int t = 0; t < 30; t++)
                            refuse.turn(
                                    Message.user("turn " + t + " of a long day"),
                                    true,
                                    Decoder.Request.of(SamplerConfig.GREEDY, 8),
                                    null);
                    })
                    .isInstanceOf(TurnRefused.class)
                    .hasMessageContaining("holds at most 128");
            assertThat(refusing.shifts()).isZero();

            cache.clear();
            assertThat(cache.policy().isFull(0, 0))
                    .as("a cleared cache gets its first policy back")
                    .isTrue();
            assertThat(cache.position()).isZero();
        }
    }
}
