package io.razorstream.engine.kernel;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A dot product must give the same bits whether it runs interpreted or JIT-compiled. Otherwise the first tokens of a
 * run (computed before C2 compiles the kernel) and later ones follow different numerics: prefill and decode disagree,
 * and a seed no longer reproduces a run. FloatVector.reduceLanes(ADD) leaves the summation order to the implementation
 * and the interpreter and C2 do use different orders, so this compares a child JVM running with -Xint against this
 * (warmed-up) JVM.
 */
class KernelDeterminismTest {
    static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0};
    static final int ROWS = 6, COLS = 160;

    /** One line per type: the raw bits of dot(r, x) for every row, then of Ops.dot. */
    static List<String> compute() {
        List<String> lines = new ArrayList<>();
        for (GgmlType type : TYPES) {
            SplittableRandom rnd = new SplittableRandom(type.ordinal() + 1);
            float[] w = new float[ROWS * COLS];
            float[] x = new float[COLS];
            // values of very different magnitudes, so that the summation order shows in the last bits
            for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * (i % 3 == 0 ? 1e3 : 1));
            for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * (i % 5 == 0 ? 1e2 : 1));
            WeightMatrix m = WeightMatrix.of(type, MemorySegment.ofArray(Quantizer.quantize(type, w)), ROWS, COLS);
            Activation a = m.prepare(x);
            StringBuilder sb = new StringBuilder(type.name());
            for (int r = 0; r < ROWS; r++)
                sb.append(' ').append(Integer.toHexString(Float.floatToRawIntBits(m.dot(r, a))));
            lines.add(sb.toString());
        }
        SplittableRandom rnd = new SplittableRandom(9);
        float[] p = new float[COLS], q = new float[COLS];
        for (int i = 0; i < COLS; i++) {
            p[i] = (float) (rnd.nextGaussian() * (i % 3 == 0 ? 1e3 : 1));
            q[i] = (float) rnd.nextGaussian();
        }
        lines.add("Ops.dot " + Integer.toHexString(Float.floatToRawIntBits(Ops.dot(p, 0, q, 0, COLS))));
        return lines;
    }

    /** Entry point of the -Xint child. */
    public static void main(String[] args) {
        for (String line : compute()) System.out.println(line);
    }

    @Test
    void interpretedAndCompiledKernelsGiveTheSameBits() throws IOException, InterruptedException {
        // Warm up here until C2 has compiled the kernels, then compare with a never-compiled run.
        List<String> warm = null;
        for (int i = 0; i < 3000; i++) warm = compute();
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process child = new ProcessBuilder(
                        java.toString(),
                        "-Xint",
                        "--add-modules",
                        "jdk.incubator.vector",
                        "-cp",
                        System.getProperty("java.class.path"),
                        KernelDeterminismTest.class.getName())
                .redirectErrorStream(false)
                .start();
        child.getOutputStream().close();
        byte[] out = child.getInputStream().readAllBytes();
        String err = new String(child.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(child.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(child.exitValue()).as(err).isZero();
        List<String> interpreted =
                new String(out, StandardCharsets.UTF_8).lines().toList();
        assertThat(interpreted).as("-Xint child output (stderr: %s)", err).hasSize(warm.size());
        assertThat(warm).containsExactlyElementsOf(interpreted);
    }
}
