package io.razorstream.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.razorstream.engine.SharedModels;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufWriter;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.Kernels;
import io.razorstream.engine.kernel.NativeVariantUnderTest;
import io.razorstream.engine.kernel.Parallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * LongRoPE (Phi-3 128k) against llama.cpp: the phi3 F32 fixture rewritten with long and short rope factors and an
 * attention factor (the recipe is in the expected file, whose logits llama.cpp b4747 computed), teacher-forced. The
 * context length picks the factors: 2048 above the original 512 takes the long ones, 512 the short ones; the two sets
 * move these logits by 0.1 to 1.1, so a wrong choice, a factor applied to the wrong pair or a missing attention factor
 * is far outside the F32 tolerance.
 */
@ExtendWith(NativeVariantUnderTest.class)
class LongRopeParityTest {
    static final int PAIRS = 16;

    static Path withLongRope(Path fixture, int contextLength, Path out) throws Exception {
        try (GgufFile in = GgufFile.open(fixture)) {
            GgufWriter w = new GgufWriter();
            in.metadata().forEach((k, v) -> {
                if (!k.equals(GgufFile.ALIGNMENT_KEY)) w.put(k, v);
            });
            w.putUint32("phi3.context_length", contextLength);
            w.putUint32("phi3.rope.scaling.original_context_length", 512);
            w.putFloat32("phi3.rope.scaling.attn_factor", 1.1902f);
            for (var t : in.tensors().values())
                w.addTensor(t.name(), t.type(), t.shape(), in.tensorData(t).toArray(ValueLayout.JAVA_BYTE));
            ByteBuffer longFactors = ByteBuffer.allocate(4 * PAIRS).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer shortFactors = ByteBuffer.allocate(4 * PAIRS).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < PAIRS; i++) {
                longFactors.putFloat(1f + 3.7f * i);
                shortFactors.putFloat(1f + 0.13f * i);
            }
            w.addTensor("rope_factors_long.weight", GgmlType.F32, new long[] {PAIRS}, longFactors.array());
            w.addTensor("rope_factors_short.weight", GgmlType.F32, new long[] {PAIRS}, shortFactors.array());
            w.write(out);
        }
        return out;
    }

    @Test
    void longAndShortFactorsMatchLlamaCpp(@TempDir Path dir) throws Exception {
        Path fixture = SharedModels.require("fixtures/phi3-q-F32.gguf");
        JsonNode ref;
        try (var in = LongRopeParityTest.class.getResourceAsStream("/longrope/phi3-longrope.expected.json")) {
            ref = new ObjectMapper().readTree(in);
        }
        int[] tokens = new int[ref.get("tokens").size()];
        for (int i = 0; i < tokens.length; i++)
            tokens[i] = ref.get("tokens").get(i).asInt();
        // The fixture's F32 tolerance (its README: an independent float64 pass was within 8e-4 of llama.cpp).
        double tolerance = 8e-4;
        for (String variant : new String[] {"long", "short"}) {
            Path file = withLongRope(fixture, variant.equals("long") ? 2048 : 512, dir.resolve(variant + ".gguf"));
            double worst = 0;
            try (GgufFile gguf = GgufFile.open(file);
                    Parallel parallel = new Parallel(2)) {
                Transformer m = Transformer.load(gguf);
                KvCache cache = m.newCache(tokens.length, KvPrecision.F16);
                for (int p = 0; p < tokens.length; p++) {
                    float[] logits = m.forward(cache, tokens, p, 1, parallel);
                    for (JsonNode pair : ref.get(variant).get(p)) {
                        double diff = Math.abs(
                                logits[pair.get(0).asInt()] - pair.get(1).asDouble());
                        worst = Math.max(worst, diff);
                        assertThat(diff)
                                .as(
                                        "%s factors, position %d, token %d (%s)",
                                        variant, p, pair.get(0).asInt(), Kernels.describe())
                                .isLessThanOrEqualTo(tolerance);
                    }
                }
            }
            System.out.printf(
                    "LongRoPE %s factors, %s: max |logit - llama.cpp| over the top 8 of %d positions = %.3g%n",
                    variant, Kernels.describe(), tokens.length, worst);
        }
    }
}
