package io.razorstream.engine.gguf;

import java.util.List;

/** A metadata array: its element type is kept so that empty and nested arrays round-trip. */
public record GgufArray(GgufValueType elementType, List<GgufValue> elements) {
    public GgufArray {
        elements = List.copyOf(elements);
    }

    public int size() {
        return elements.size();
    }

    public GgufValue get(int i) {
        return elements.get(i);
    }
}
