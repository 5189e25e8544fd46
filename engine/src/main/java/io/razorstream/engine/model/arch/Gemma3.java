package io.razorstream.engine.model.arch;

import java.util.Set;

import static io.razorstream.engine.model.arch.Architecture.Feature.EMBEDDING_SCALE;
import static io.razorstream.engine.model.arch.Architecture.Feature.GELU_FFN;
import static io.razorstream.engine.model.arch.Architecture.Feature.POST_NORMS;
import static io.razorstream.engine.model.arch.Architecture.Feature.QK_NORM;
import static io.razorstream.engine.model.arch.Architecture.Feature.QUERY_PRESCALE;

/**
 * {@code gemma3}: Gemma 3 (text); gemma2's block without softcapping, with per-head q/k norms, five local layers
 * to one global by default, and rope base 10000 on the local layers unless the file sets {@code rope.freq_base_swa}.
 * The output head is {@code output.weight} when present, else the embedding.
 */
final class Gemma3 {
    static final Architecture ARCHITECTURE = new Architecture("gemma3", Architecture.RopeStyle.NEOX,
            Set.of(EMBEDDING_SCALE, GELU_FFN, POST_NORMS, QK_NORM, QUERY_PRESCALE), 6, 10000f);

    private Gemma3() {}
}
