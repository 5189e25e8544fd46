package io.razorstream.engine.tensor;

/**
 * An input vector prepared for one weight type's dot product. As in llama.cpp's CPU backend, the
 * activation side is rounded to the weight's "vec_dot" type first: F16 weights see F16-rounded inputs,
 * BF16 weights BF16-rounded inputs, Q8_0 and Q4_0 weights Q8_0-quantised inputs (held here as
 * integer-valued floats in {@code values} with one F16-rounded scale per 32-block in {@code scales}).
 * F32 weights use the input as it is and {@code scales} is null.
 */
public record Activation(float[] values, float[] scales) {

    public int length() {
        return values.length;
    }

    /** The value the weight type actually multiplies with element {@code i}. */
    public float effective(int i) {
        return scales == null ? values[i] : values[i] * scales[i / Quantizer.QK];
    }
}
