package io.razorstream.engine.profile;

import io.razorstream.engine.attention.HeadSelection;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.WindowParams;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Which KV heads of a model are retrieval heads, and why: the method that chose them ({@link ProfileMethod}), its
 * parameters, its scores (per query head and per KV head, by name), and the chosen set; and, once calibrated, which
 * window heads get the compensation token ({@link CompensationCalibration}). Made once per model, keyed by the model's
 * fingerprint; {@link #toJson} is the file the service and the tools load.
 */
public record HeadProfile(
        String modelFingerprint,
        ProfileMethod method,
        Map<String, Object> parameters,
        Map<String, double[][]> scores,
        boolean[][] retrieval,
        boolean[][] inductionOnly,
        CompensationCalibration.Result compensation) {

    public HeadProfile {
        parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
        scores = Collections.unmodifiableMap(new LinkedHashMap<>(scores));
    }

    public int layers() {
        return retrieval.length;
    }

    public int kvHeads() {
        return retrieval[0].length;
    }

    public int retrievalCount() {
        return HeadSelection.marked(retrieval);
    }

    /** A score matrix by name ("kvInduction", "echo", ...); an error naming the ones this method has when missing. */
    public double[][] score(String name) {
        double[][] s = scores.get(name);
        if (s == null)
            throw new IllegalArgumentException(
                    "the " + method.label() + " profile has no '" + name + "' scores (it has " + scores.keySet() + ")");
        return s;
    }

    /** The same profile with its compensation calibrated. */
    public HeadProfile withCompensation(CompensationCalibration.Result calibrated) {
        return new HeadProfile(modelFingerprint, method, parameters, scores, retrieval, inductionOnly, calibrated);
    }

    /** The heads that keep the compensation token: the calibrated ones, or none before calibration. */
    public boolean[][] compensated() {
        return compensation != null ? compensation.heads() : new boolean[layers()][kvHeads()];
    }

    /**
     * RazorAttention's cache policy: the retrieval heads keep everything, the others are windowed, compensated where
     * calibrated.
     */
    public KvPolicy policy(WindowParams window) {
        return KvPolicy.razor(retrieval, compensated(), window);
    }

    /**
     * The induction heads alone (the echo heads' share left out): the "no echo heads" ablation; null for other methods.
     */
    public boolean[][] inductionHeads() {
        return inductionOnly;
    }

    /** The profile as JSON: format, fingerprint, method and parameters, scores, chosen heads, compensation. */
    public String toJson() {
        StringBuilder sb = new StringBuilder("{\n");
        sb.append("  \"format\": \"razorstream-head-profile/1\",\n");
        sb.append("  \"modelFingerprint\": \"").append(modelFingerprint).append("\",\n");
        sb.append("  \"method\": \"").append(method.label()).append("\",\n");
        sb.append("  \"probe\": {");
        String sep = "";
        for (Map.Entry<String, Object> e : parameters.entrySet()) {
            sb.append(sep).append('"').append(e.getKey()).append("\": ").append(json(e.getValue()));
            sep = ", ";
        }
        sb.append("},\n");
        sb.append("  \"layers\": ")
                .append(layers())
                .append(", \"kvHeads\": ")
                .append(kvHeads())
                .append(",\n");
        for (Map.Entry<String, double[][]> e : scores.entrySet())
            sb.append("  \"")
                    .append(e.getKey())
                    .append("\": ")
                    .append(matrix(e.getValue()))
                    .append(",\n");
        if (inductionOnly != null)
            sb.append("  \"inductionHeads\": ").append(heads(inductionOnly)).append(",\n");
        if (compensation != null) {
            sb.append("  \"compensation\": {\"tokens\": ")
                    .append(compensation.tokens())
                    .append(", \"window\": ")
                    .append(compensation.window())
                    .append(", \"margin\": ")
                    .append(compensation.margin())
                    .append(",\n");
            sb.append("    \"errorWithout\": ")
                    .append(matrix(compensation.errorWithout()))
                    .append(",\n");
            sb.append("    \"errorWith\": ")
                    .append(matrix(compensation.errorWith()))
                    .append("},\n");
            sb.append("  \"compensatedHeads\": ")
                    .append(heads(compensation.heads()))
                    .append(",\n");
        }
        sb.append("  \"retrievalHeads\": ").append(heads(retrieval)).append('\n');
        return sb.append("}\n").toString();
    }

    private static String json(Object v) {
        if (v instanceof long[] a) return Arrays.toString(a);
        if (v instanceof String s) return '"' + s + '"';
        return String.valueOf(v);
    }

    private static String heads(boolean[][] chosen) {
        StringBuilder sb = new StringBuilder("[");
        String sep = "";
        for (int l = 0; l < chosen.length; l++) {
            for (int h = 0; h < chosen[l].length; h++) {
                if (chosen[l][h]) {
                    sb.append(sep)
                            .append("{\"layer\": ")
                            .append(l)
                            .append(", \"kvHead\": ")
                            .append(h)
                            .append('}');
                    sep = ", ";
                }
            }
        }
        return sb.append(']').toString();
    }

    private static String matrix(double[][] m) {
        StringBuilder sb = new StringBuilder("[");
        for (int l = 0; l < m.length; l++) {
            sb.append(l == 0 ? "" : ", ").append('[');
            for (int h = 0; h < m[l].length; h++)
                sb.append(h == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.6f", m[l][h]));
            sb.append(']');
        }
        return sb.append(']').toString();
    }
}
