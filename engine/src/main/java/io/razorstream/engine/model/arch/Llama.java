package io.razorstream.engine.model.arch;

import com.google.auto.service.AutoService;

import java.util.Set;

/** {@code llama}: Llama 1-3, TinyLlama, Mistral and most fine-tunes; RMSNorm, SwiGLU, adjacent-pair RoPE, no biases. */
@AutoService(Family.class)
public final class Llama implements Family {
    private static final Architecture ARCHITECTURE =
            new Architecture("llama", Architecture.RopeStyle.NORMAL, Set.of(), 0, 0);

    @Override
    public Architecture architecture() {
        return ARCHITECTURE;
    }
}
