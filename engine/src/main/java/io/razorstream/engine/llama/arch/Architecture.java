package io.razorstream.engine.llama.arch;

import java.util.List;

/**
 * How one model family departs from the plain llama transformer, as a description the transformer and the
 * weight loader read (one small file per family declares it): the GGUF {@code general.architecture} name, the
 * rotary embedding's pairing, whether the attention projections have biases, and whether each head's query and
 * key are RMS-normed (own weights, before RoPE). Adding a family is a new file and an entry in {@link #ALL}
 * (docs/ARCHITECTURE.md).
 */
public record Architecture(String name, RopeStyle rope, boolean attentionBiases, boolean qkNorm) {
    /** Which elements of a head RoPE rotates together. */
    public enum RopeStyle {
        /** Adjacent pairs (2i, 2i + 1): llama.cpp's "normal" mode. */
        NORMAL,
        /** Halves (i, i + d/2): llama.cpp's NeoX mode. */
        NEOX
    }

    /** Every family the engine runs. */
    public static final List<Architecture> ALL = List.of(Llama.ARCHITECTURE, Qwen2.ARCHITECTURE, Qwen3.ARCHITECTURE);

    /** The family of a GGUF {@code general.architecture} value, or null when the engine does not run it. */
    public static Architecture named(String name) {
        for (Architecture a : ALL) if (a.name.equals(name)) return a;
        return null;
    }

    /** The names of {@link #ALL}, for messages. */
    public static List<String> names() {
        return ALL.stream().map(Architecture::name).toList();
    }
}
