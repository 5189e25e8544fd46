package io.razorstream.engine.kernel;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs a parity test class on the native variant that {@code razorstream.native.isa} names (the build's per-variant
 * test executions set it), or skips it with the reason: the host lacks that variant, or it is the host's best one,
 * which the default run already tests. Without the property the class runs as usual. So a variant is never compared
 * with itself, and a run on a variant the host lacks never passes silently on another tier.
 */
public final class NativeVariantUnderTest implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String wanted = System.getProperty("razorstream.native.isa");
        if (wanted == null) return ConditionEvaluationResult.enabled("no variant asked for: the default one");
        if (!Kernels.nativeSelected() || !matches(NativeKernels.isa(), wanted)) {
            return ConditionEvaluationResult.disabled("this host has no native '" + wanted + "' variant ("
                    + Kernels.describe()
                    + (NativeKernels.unavailableReason() != null ? ": " + NativeKernels.unavailableReason() : "")
                    + ")");
        }
        if (matches(NativeKernels.variants().get(0).isa(), wanted)) {
            return ConditionEvaluationResult.disabled(
                    "'" + wanted + "' is this host's best variant: the default test run covers it");
        }
        return ConditionEvaluationResult.enabled("on the native " + NativeKernels.isa() + " variant");
    }

    private static boolean matches(String isa, String wanted) {
        return isa.equals(wanted) || isa.startsWith(wanted + "-");
    }
}
