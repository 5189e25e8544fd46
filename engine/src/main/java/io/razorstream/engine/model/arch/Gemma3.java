package io.razorstream.engine.model.arch;

import com.google.auto.service.AutoService;

import java.util.Map;
import java.util.Set;

import static io.razorstream.engine.model.arch.Architecture.Feature.EMBEDDING_SCALE;
import static io.razorstream.engine.model.arch.Architecture.Feature.GELU_FFN;
import static io.razorstream.engine.model.arch.Architecture.Feature.POST_NORMS;
import static io.razorstream.engine.model.arch.Architecture.Feature.QK_NORM;
import static io.razorstream.engine.model.arch.Architecture.Feature.QUERY_PRESCALE;

/**
 * {@code gemma3}: Gemma 3 (text); gemma2's block without softcapping, with per-head q/k norms, five local layers to one
 * global by default, and rope base 10000 on the local layers unless the file sets {@code rope.freq_base_swa}. The
 * output head is {@code output.weight} when present, else the embedding. The 27B (62 layers) scales the query by
 * 1/sqrt(n_embd / n_head), not by the head size (llama.cpp decides it by the layer count).
 */
@AutoService(Family.class)
public final class Gemma3 implements Family {
    private static final Architecture ARCHITECTURE = new Architecture(
            "gemma3",
            Architecture.RopeStyle.NEOX,
            Set.of(EMBEDDING_SCALE, GELU_FFN, POST_NORMS, QK_NORM, QUERY_PRESCALE),
            6,
            10000f);

    @Override
    public Architecture architecture() {
        return ARCHITECTURE;
    }

    @Override
    public float attentionScale(int blocks, int embeddingLength, int heads, int headSize) {
        return blocks == 62
                ? (float) (1.0 / Math.sqrt((float) (embeddingLength / heads)))
                : Family.super.attentionScale(blocks, embeddingLength, heads, headSize);
    }

    @Override
    public Map<String, Float> randomModelMetadata() {
        return Map.of("rope.freq_base_swa", 10000f);
    }
}
