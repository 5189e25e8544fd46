package io.razorstream.engine.model.arch;

import com.google.auto.service.AutoService;

import java.util.Set;

import static io.razorstream.engine.model.arch.Architecture.Feature.FUSED_PROJECTIONS;
import static io.razorstream.engine.model.arch.Architecture.Feature.QUERY_PRESCALE;

/**
 * {@code phi3}: Phi-3 and Phi-4-mini; the llama block with fused {@code attn_qkv} and gate/up ({@code ffn_up})
 * matrices, NeoX RoPE and the query scaled before the scores. llama.cpp uses no sliding window for phi3 whatever the
 * file says.
 */
@AutoService(Family.class)
public final class Phi3 implements Family {
    private static final Architecture ARCHITECTURE =
            new Architecture("phi3", Architecture.RopeStyle.NEOX, Set.of(FUSED_PROJECTIONS, QUERY_PRESCALE), 0, 0);

    @Override
    public Architecture architecture() {
        return ARCHITECTURE;
    }
}
