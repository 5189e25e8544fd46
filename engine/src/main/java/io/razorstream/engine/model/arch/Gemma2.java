package io.razorstream.engine.model.arch;

import java.util.Set;

import static io.razorstream.engine.model.arch.Architecture.Feature.EMBEDDING_SCALE;
import static io.razorstream.engine.model.arch.Architecture.Feature.GELU_FFN;
import static io.razorstream.engine.model.arch.Architecture.Feature.POST_NORMS;
import static io.razorstream.engine.model.arch.Architecture.Feature.QUERY_PRESCALE;
import static io.razorstream.engine.model.arch.Architecture.Feature.TIED_OUTPUT;

/**
 * {@code gemma2}: Gemma 2; embedding x sqrt(n_embd), GeGLU, post-attention and post-FFN norms, NeoX RoPE, the query
 * scaled before the scores, always-tied output, attention and final logit softcapping (from the file's
 * {@code attn_logit_softcapping} / {@code final_logit_softcapping}), a sliding window on every other layer
 * (0, 2, ... local; 1, 3, ... global).
 */
final class Gemma2 {
    static final Architecture ARCHITECTURE = new Architecture("gemma2", Architecture.RopeStyle.NEOX,
            Set.of(EMBEDDING_SCALE, GELU_FFN, POST_NORMS, QUERY_PRESCALE, TIED_OUTPUT), 2, 0);

    private Gemma2() {}
}
