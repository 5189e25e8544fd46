package io.razorstream.engine.gguf;

import io.razorstream.engine.kernel.GgmlType;

import java.util.Arrays;

/**
 * One entry of the tensor table. {@code shape} is in GGUF order: {@code shape[0]} is the fastest-varying dimension (for
 * a weight matrix, the input size; {@code shape[1]} the number of rows).
 */
public record GgufTensorInfo(String name, GgmlType type, long[] shape, long offset) {

    public long elementCount() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public long byteSize() {
        return type.bytesFor(elementCount());
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape) + " @" + offset;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensorInfo t
                && t.name.equals(name)
                && t.type == type
                && Arrays.equals(t.shape, shape)
                && t.offset == offset;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }
}
