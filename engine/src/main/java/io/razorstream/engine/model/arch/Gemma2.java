package io.razorstream.engine.model.arch;

import com.google.auto.service.AutoService;

import java.util.Map;
import java.util.Set;

import static io.razorstream.engine.model.arch.Architecture.Feature.EMBEDDING_SCALE;
import static io.razorstream.engine.model.arch.Architecture.Feature.GELU_FFN;
import static io.razorstream.engine.model.arch.Architecture.Feature.POST_NORMS;
import static io.razorstream.engine.model.arch.Architecture.Feature.QUERY_PRESCALE;
import static io.razorstream.engine.model.arch.Architecture.Feature.TIED_OUTPUT;

/**
 * {@code gemma2}: Gemma 2; embedding x sqrt(n_embd), GeGLU, post-attention and post-FFN norms, NeoX RoPE, the query
 * scaled before the scores, always-tied output, attention and final logit softcapping (from the file's
 * {@code attn_logit_softcapping} / {@code final_logit_softcapping}), a sliding window on every other layer (0, 2, ...
 * local; 1, 3, ... global). The 27B (46 layers) scales the query by 1/sqrt(n_embd / n_head), not by the head size
 * (llama.cpp decides it by the layer count; it reads no query_pre_attn_scalar key).
 */
@AutoService(Family.class)
public final class Gemma2 implements Family {
    private static final Architecture ARCHITECTURE = new Architecture(
            "gemma2",
            Architecture.RopeStyle.NEOX,
            Set.of(EMBEDDING_SCALE, GELU_FFN, POST_NORMS, QUERY_PRESCALE, TIED_OUTPUT),
            2,
            0);

    @Override
    public Architecture architecture() {
        return ARCHITECTURE;
    }

    @Override
    public float attentionScale(int blocks, int embeddingLength, int heads, int headSize) {
        return blocks == 46
                ? (float) (1.0 / Math.sqrt((float) (embeddingLength / heads)))
                : Family.super.attentionScale(blocks, embeddingLength, heads, headSize);
    }

    /** Gemma 2's softcaps: 50 on the attention scores, 30 on the final logits. */
    @Override
    public Map<String, Float> randomModelMetadata() {
        return Map.of("attn_logit_softcapping", 50f, "final_logit_softcapping", 30f);
    }
}
