package io.razorstream.engine.model;

import com.google.auto.service.AutoService;
import io.razorstream.engine.model.arch.Architecture;
import io.razorstream.engine.model.arch.Family;

import java.util.Map;
import java.util.Set;

import static io.razorstream.engine.model.arch.Architecture.Feature.EMBEDDING_SCALE;
import static io.razorstream.engine.model.arch.Architecture.Feature.GELU_FFN;
import static io.razorstream.engine.model.arch.Architecture.Feature.QUERY_PRESCALE;

/**
 * {@code toyllama}: a family that exists only in the tests, added as docs/ARCHITECTURE.md says (this one file): llama's
 * tensors with NeoX RoPE, GeGLU, the scaled embedding and the query scaled before the scores, by half of the usual
 * 1/sqrt(head size), and random stand-ins with a final logit softcap. {@link NewFamilyTest} runs it.
 */
@AutoService(Family.class)
public final class ToyLlama implements Family {
    static final String NAME = "toyllama";
    private static final Architecture ARCHITECTURE = new Architecture(
            NAME, Architecture.RopeStyle.NEOX, Set.of(EMBEDDING_SCALE, GELU_FFN, QUERY_PRESCALE), 0, 0);

    @Override
    public Architecture architecture() {
        return ARCHITECTURE;
    }

    @Override
    public float attentionScale(int blocks, int embeddingLength, int heads, int headSize) {
        return 0.5f * Family.super.attentionScale(blocks, embeddingLength, heads, headSize);
    }

    @Override
    public Map<String, Float> randomModelMetadata() {
        return Map.of("final_logit_softcapping", 20f);
    }
}
