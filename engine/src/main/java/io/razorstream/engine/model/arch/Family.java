package io.razorstream.engine.model.arch;

import java.util.List;
import java.util.Map;

/**
 * One model family: its {@link Architecture} and the decisions of its own that a description cannot hold. A family is
 * one class implementing this, annotated {@code @AutoService(Family.class)}: the annotation processor lists it in
 * {@code META-INF/services}, where {@link #all()} finds it; nothing else names it (docs/ARCHITECTURE.md).
 */
public interface Family {
    Architecture architecture();

    /**
     * The factor on the query-key dot products: 1/sqrt(head size), as llama.cpp's graph has it for most families. The
     * sizes are the file's (layers, embedding length, query heads, head size).
     */
    default float attentionScale(int blocks, int embeddingLength, int heads, int headSize) {
        return (float) (1.0 / Math.sqrt(headSize));
    }

    /**
     * Float metadata a random-weight stand-in of this family carries ({@code random-model}), by key without the
     * {@code <architecture>.} prefix: the values the family's real files set and the loader reads (softcaps, ...).
     */
    default Map<String, Float> randomModelMetadata() {
        return Map.of();
    }

    /** Every family on the class path, by name. */
    static List<Family> all() {
        return FamilyRegistry.ALL;
    }

    /** The family of a GGUF {@code general.architecture} value, or null when the engine does not run it. */
    static Family named(String name) {
        for (Family f : all()) if (f.architecture().name().equals(name)) return f;
        return null;
    }

    /** The names of {@link #all()}, for messages. */
    static List<String> names() {
        return all().stream().map(f -> f.architecture().name()).toList();
    }
}
