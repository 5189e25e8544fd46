package io.razorstream.engine.model.arch;

import com.google.auto.service.AutoService;

import java.util.Set;

import static io.razorstream.engine.model.arch.Architecture.Feature.QK_NORM;

/**
 * {@code qwen3}: the Qwen3 dense family; the llama block without biases, with NeoX-style RoPE and a per-head RMS norm
 * of every query and key (weights {@code attn_q_norm}, {@code attn_k_norm} of head size) before RoPE.
 */
@AutoService(Family.class)
public final class Qwen3 implements Family {
    private static final Architecture ARCHITECTURE =
            new Architecture("qwen3", Architecture.RopeStyle.NEOX, Set.of(QK_NORM), 0, 0);

    @Override
    public Architecture architecture() {
        return ARCHITECTURE;
    }
}
