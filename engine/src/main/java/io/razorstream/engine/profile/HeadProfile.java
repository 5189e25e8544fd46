package io.razorstream.engine.profile;

import io.razorstream.engine.kv.HeadSelection;
import io.razorstream.engine.kv.KvPolicy;
import io.razorstream.engine.kv.WindowParams;

import java.util.Locale;

/**
 * Which KV heads of a model are retrieval heads, and why: echo and induction scores per query head, their
 * maximum over each GQA group (the KV head's score), and the chosen set (top {@code inductionRatio} by
 * induction united with top {@code echoRatio} by echo, each rounded up to whole heads). Made once per
 * model, keyed by the model's fingerprint.
 */
public record HeadProfile(String modelFingerprint, int period, long[] seeds, double inductionRatio, double echoRatio,
                          double[][] echo, double[][] induction, double[][] kvEcho, double[][] kvInduction,
                          boolean[][] retrieval) {

    public int layers() {
        return retrieval.length;
    }

    public int kvHeads() {
        return retrieval[0].length;
    }

    public int retrievalCount() {
        int n = 0;
        for (boolean[] row : retrieval) for (boolean r : row) if (r) n++;
        return n;
    }

    /** RazorAttention's cache policy: the retrieval heads keep everything, the others are windowed. */
    public KvPolicy policy(WindowParams window) {
        return KvPolicy.razor(retrieval, window);
    }

    /** The induction heads alone (the echo heads' share left out): the "no echo heads" ablation. */
    public boolean[][] inductionHeads() {
        boolean[][] chosen = new boolean[layers()][kvHeads()];
        HeadSelection.top(kvInduction, inductionRatio, chosen);
        return chosen;
    }

    /** The profile as JSON (scores, chosen set, probe parameters, model fingerprint). */
    public String toJson() {
        StringBuilder sb = new StringBuilder("{\n");
        sb.append("  \"format\": \"razorstream-head-profile/1\",\n");
        sb.append("  \"modelFingerprint\": \"").append(modelFingerprint).append("\",\n");
        sb.append("  \"probe\": {\"period\": ").append(period).append(", \"repeats\": 4, \"seeds\": ").append(java.util.Arrays.toString(seeds))
                .append(", \"inductionRatio\": ").append(inductionRatio).append(", \"echoRatio\": ").append(echoRatio).append("},\n");
        sb.append("  \"layers\": ").append(layers()).append(", \"heads\": ").append(echo[0].length).append(", \"kvHeads\": ").append(kvHeads()).append(",\n");
        sb.append("  \"echo\": ").append(matrix(echo)).append(",\n");
        sb.append("  \"induction\": ").append(matrix(induction)).append(",\n");
        sb.append("  \"kvEcho\": ").append(matrix(kvEcho)).append(",\n");
        sb.append("  \"kvInduction\": ").append(matrix(kvInduction)).append(",\n");
        sb.append("  \"inductionHeads\": ").append(heads(inductionHeads())).append(",\n");
        sb.append("  \"retrievalHeads\": ").append(heads(retrieval)).append('\n');
        return sb.append("}\n").toString();
    }

    private static String heads(boolean[][] chosen) {
        StringBuilder sb = new StringBuilder("[");
        String sep = "";
        for (int l = 0; l < chosen.length; l++) {
            for (int h = 0; h < chosen[l].length; h++) {
                if (chosen[l][h]) {
                    sb.append(sep).append("{\"layer\": ").append(l).append(", \"kvHead\": ").append(h).append('}');
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
            for (int h = 0; h < m[l].length; h++) sb.append(h == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.6f", m[l][h]));
            sb.append(']');
        }
        return sb.append(']').toString();
    }
}
