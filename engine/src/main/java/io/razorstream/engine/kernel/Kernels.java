package io.razorstream.engine.kernel;

import java.util.Locale;

/**
 * Which kernel tier multiplies the weight matrices, process-wide: the native tier (C, int8 multiply-add, see
 * {@link NativeKernels}) or the Java tier (the Vector API kernels of each {@link WeightMatrix}). {@code auto} takes the
 * native tier when its library loaded and the CPU can run it, and the Java tier otherwise, saying why in one line.
 * Chosen once at start (CLI {@code --kernels}, service setting {@code engine.kernels}, or the system property
 * {@code razorstream.kernels}); switching later affects activations prepared after the switch only, so it must not
 * happen during a forward pass.
 */
public final class Kernels {
    /** What a user may ask for. */
    public enum Mode {
        AUTO,
        NATIVE,
        JAVA;

        public static Mode parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("kernels must be auto, native or java, got '" + s + "'");
            }
        }
    }

    private static volatile boolean nativeActive;
    private static volatile boolean selected;
    private static boolean warned;

    private Kernels() {}

    /**
     * Selects the tier; {@code native} when the native tier cannot run is an error that says why. Returns the one-line
     * description of what runs ({@link #describe()}).
     */
    public static synchronized String select(Mode mode) {
        nativeActive = switch (mode) {
            case JAVA -> false;
            case NATIVE -> {
                if (!NativeKernels.available()) {
                    // a setting that cannot be honoured here: reported as a bad argument (one line, exit 1)
                    throw new IllegalArgumentException(
                            "native kernels requested but unavailable: " + NativeKernels.unavailableReason());
                }
                yield true;
            }
            case AUTO -> {
                if (!NativeKernels.available() && !warned) {
                    warned = true;
                    System.err.println("[razorstream] native kernels unavailable (" + NativeKernels.unavailableReason()
                            + "); using the Java kernel tier");
                }
                yield NativeKernels.available();
            }
        };
        selected = true;
        return describe();
    }

    /** Selects from the system property {@code razorstream.kernels} (default auto) unless a choice was made already. */
    private static void ensureSelected() {
        if (!selected) {
            synchronized (Kernels.class) {
                if (!selected) select(Mode.parse(System.getProperty("razorstream.kernels", "auto")));
            }
        }
    }

    /** True when matrices of {@code type} are multiplied by the native tier. */
    static boolean nativeFor(GgmlType type) {
        ensureSelected();
        return nativeActive && NativeKernels.covers(type);
    }

    /** Whether the native tier is the selected one. */
    public static boolean nativeSelected() {
        ensureSelected();
        return nativeActive;
    }

    /** "native" or "java". */
    public static String tier() {
        return nativeSelected() ? "native" : "java";
    }

    /** The instruction set the selected tier runs: e.g. "avx2", "avx512-vnni", or the Java tier's vector width. */
    public static String isa() {
        if (nativeSelected()) return NativeKernels.isa();
        return VectorSupport.ENABLED ? VectorSupport.L * 32 + "-bit vectors" : "scalar";
    }

    /** One line for start-up messages and {@code bench}: tier and ISA. */
    public static String describe() {
        return tier() + " kernels (" + isa() + ")";
    }
}
