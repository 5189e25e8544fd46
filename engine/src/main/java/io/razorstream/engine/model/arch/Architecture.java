package io.razorstream.engine.model.arch;

import java.util.EnumSet;
import java.util.Set;

/**
 * How one model family departs from the plain llama transformer, as a description the transformer and the weight loader
 * read (one small file per family declares it): the GGUF {@code general.architecture} name, the rotary embedding's
 * pairing, the {@link Feature}s of its block, and its default sliding-window layer pattern. Each {@link Family}
 * declares one; adding a family is that one file (docs/ARCHITECTURE.md).
 *
 * @param slidingWindowPeriod when the file sets a window but no {@code sliding_window_pattern}: every period-th layer
 *     is global, the others local (gemma2: 2, gemma3: 6); 0 when the family never uses a window (llama.cpp reads none
 *     for llama, qwen and phi3)
 * @param localRopeBase the rope base of the local layers when the file has no {@code rope.freq_base_swa} (gemma3:
 *     10000); 0: the global base
 */
public record Architecture(
        String name, RopeStyle rope, Set<Feature> features, int slidingWindowPeriod, float localRopeBase) {
    /** Which elements of a head RoPE rotates together. */
    public enum RopeStyle {
        /** Adjacent pairs (2i, 2i + 1): llama.cpp's "normal" mode. */
        NORMAL,
        /** Halves (i, i + d/2): llama.cpp's NeoX mode. */
        NEOX
    }

    /** One departure from the llama block. */
    public enum Feature {
        /** Q/K/V projection biases (required; llama loads them only when present). */
        ATTENTION_BIASES,
        /**
         * Each head's query and key RMS-normed with head-sized weights ({@code attn_q_norm}, {@code attn_k_norm})
         * before RoPE.
         */
        QK_NORM,
        /** The token embedding multiplied by sqrt(embedding length) before the first layer. */
        EMBEDDING_SCALE,
        /** A GeGLU feed-forward (tanh GELU of the gate times up) instead of SwiGLU. */
        GELU_FFN,
        /** RMS norms of the attention and feed-forward outputs before they join the residual. */
        POST_NORMS,
        /**
         * The query multiplied by the attention scale after RoPE, the scores then unscaled (as llama.cpp's graph does).
         */
        QUERY_PRESCALE,
        /** One {@code attn_qkv} matrix (q, k, v rows stacked) and gate and up rows stacked in {@code ffn_up}. */
        FUSED_PROJECTIONS,
        /** The output head is always the token embedding, even when the file has an {@code output.weight}. */
        TIED_OUTPUT
    }

    public Architecture {
        features = features.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(features));
    }

    public boolean has(Feature f) {
        return features.contains(f);
    }

    /**
     * The architecture of the {@link Family} named {@code name} (a GGUF {@code general.architecture} value), or null
     * when the engine does not run it.
     */
    public static Architecture named(String name) {
        Family f = Family.named(name);
        return f == null ? null : f.architecture();
    }
}
