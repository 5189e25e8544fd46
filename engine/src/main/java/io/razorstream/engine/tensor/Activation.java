package io.razorstream.engine.tensor;

/**
 * An input vector prepared for one weight type's dot product. As in llama.cpp's CPU backend, the
 * activation side is rounded to the weight's "vec_dot" type first: F16 weights see F16-rounded inputs,
 * BF16 weights BF16-rounded inputs, Q8_0 and Q4_0 weights Q8_0-quantised inputs (held here as
 * integer-valued floats in {@code values} with one F16-rounded scale per 32-block in {@code scales}).
 * F32 weights use the input as it is and {@code scales} is null.
 */
public final class Activation {
    private final float[] values;
    private final float[] scales;
    private float[] effective;

    public Activation(float[] values, float[] scales) {
        this.values = values;
        this.scales = scales;
    }

    public float[] values() {
        return values;
    }

    public float[] scales() {
        return scales;
    }

    public int length() {
        return values.length;
    }

    /** The value the weight type actually multiplies with element {@code i}. */
    public float effective(int i) {
        return scales == null ? values[i] : values[i] * scales[i / Quantizer.QK];
    }

    /** All effective values (quants times their scale), computed once and kept: the GEMM path's input. */
    public float[] effective() {
        if (scales == null) return values;
        float[] e = effective;
        if (e == null) {
            e = new float[values.length];
            for (int i = 0; i < e.length; i++) e[i] = values[i] * scales[i / Quantizer.QK];
            effective = e;
        }
        return e;
    }
}
