package io.razorstream.engine.model.arch;

import com.google.auto.service.AutoService;

import java.util.Set;

import static io.razorstream.engine.model.arch.Architecture.Feature.ATTENTION_BIASES;

/** {@code qwen2}: Qwen 2 and 2.5; the llama block with Q/K/V projection biases and NeoX-style RoPE. */
@AutoService(Family.class)
public final class Qwen2 implements Family {
    private static final Architecture ARCHITECTURE =
            new Architecture("qwen2", Architecture.RopeStyle.NEOX, Set.of(ATTENTION_BIASES), 0, 0);

    @Override
    public Architecture architecture() {
        return ARCHITECTURE;
    }
}
