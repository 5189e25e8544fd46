package io.razorstream.engine.model.arch;

import java.util.Set;

/** {@code llama}: Llama 1-3, TinyLlama, Mistral and most fine-tunes; RMSNorm, SwiGLU, adjacent-pair RoPE, no biases. */
final class Llama {
    static final Architecture ARCHITECTURE = new Architecture("llama", Architecture.RopeStyle.NORMAL, Set.of(), 0, 0);

    private Llama() {}
}
