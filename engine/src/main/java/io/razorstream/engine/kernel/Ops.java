package io.razorstream.engine.kernel;

import jdk.incubator.vector.FloatVector;

import static io.razorstream.engine.kernel.VectorSupport.F;
import static io.razorstream.engine.kernel.VectorSupport.L;

/** Element-wise and reduction operations on float arrays, with llama.cpp's numerics where it matters. */
public final class Ops {
    private Ops() {}

    /** out = x / sqrt(mean(x^2) + eps) * weight; the sum of squares is taken in double, as ggml does. */
    public static void rmsNorm(float[] out, float[] x, float[] weight, float eps) {
        rmsNorm(out, 0, x, 0, weight, eps);
    }

    /**
     * As above on x[xOff, xOff + weight.length) into out[outOff, ...) (a head of a wider vector; in place when out ==
     * x).
     */
    public static void rmsNorm(float[] out, int outOff, float[] x, int xOff, float[] weight, float eps) {
        int n = weight.length;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += (double) (x[xOff + i] * x[xOff + i]);
        float mean = (float) (sum / n);
        float scale = 1f / (float) Math.sqrt(mean + eps);
        for (int i = 0; i < n; i++) out[outOff + i] = (x[xOff + i] * scale) * weight[i];
    }

    /** Dot product of a[aOff..aOff+n) and b[bOff..bOff+n). */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int i = 0;
        float sum = 0;
        if (VectorSupport.ENABLED) {
            FloatVector acc = FloatVector.zero(F);
            for (; i + L <= n; i += L) {
                acc = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc);
            }
            sum = VectorSupport.sum(acc);
        }
        for (; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }

    /** out[outOff..outOff+n) += w * x[xOff..xOff+n). */
    public static void axpy(float[] out, int outOff, float w, float[] x, int xOff, int n) {
        int i = 0;
        if (VectorSupport.ENABLED) {
            FloatVector wv = FloatVector.broadcast(F, w);
            for (; i + L <= n; i += L) {
                FloatVector.fromArray(F, x, xOff + i)
                        .fma(wv, FloatVector.fromArray(F, out, outOff + i))
                        .intoArray(out, outOff + i);
            }
        }
        for (; i < n; i++) out[outOff + i] += w * x[xOff + i];
    }

    /** In-place softmax of x[0..n): exponentials summed in double, then scaled, as ggml's soft_max does. */
    public static void softmax(float[] x, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[i]);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (int i = 0; i < n; i++) x[i] *= inv;
    }

    /** SiLU(gate) * up, element-wise into gate. */
    public static void swiglu(float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    /**
     * GELU(gate) * up element-wise into gate (gemma's GeGLU), with llama.cpp's CPU numerics: the tanh GELU is read from
     * a table over F16 inputs (the gate rounded to F16, the result stored as F16); gate <= -10 gives 0 and gate >= 10
     * passes through.
     */
    public static void geglu(float[] gate, float[] up, int n) {
        float[] table = GeluTable.VALUES;
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            float gelu = g <= -10f ? 0f : g >= 10f ? g : table[Numerics.floatToF16(g) & 0xffff];
            gate[i] = gelu * up[i];
        }
    }

    /** The F16 GELU table of {@link #geglu}, built on first use. */
    private static final class GeluTable {
        static final float[] VALUES = new float[1 << 16];

        static {
            for (int bits = 0; bits < VALUES.length; bits++)
                VALUES[bits] = Numerics.roundToF16(geluTanh(Numerics.f16ToFloat((short) bits)));
        }
    }

    /**
     * The tanh approximation of GELU, in float as ggml computes it: 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))).
     */
    static float geluTanh(float x) {
        return 0.5f * x * (1f + (float) Math.tanh(0.7978845608028654f * x * (1f + 0.044715f * x * x)));
    }

    /** x = cap * tanh(x / cap) on x[0, n), as ggml's scale, tanh, scale (gemma2's final logit softcap). */
    public static void softcap(float[] x, int n, float cap) {
        float inverse = 1f / cap;
        for (int i = 0; i < n; i++) x[i] = (float) Math.tanh(x[i] * inverse) * cap;
    }

    /** x[0, n) *= s. */
    public static void scale(float[] x, int n, float s) {
        for (int i = 0; i < n; i++) x[i] *= s;
    }

    public static void add(float[] acc, float[] x, int n) {
        for (int i = 0; i < n; i++) acc[i] += x[i];
    }

    /** Index of the largest value; ties go to the lower index (llama.cpp's greedy sampler). */
    public static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
