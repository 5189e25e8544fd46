package io.razorstream.engine.profile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads back the chosen heads of a profile written by {@link HeadProfile#toJson()}, checking it is this model's. */
public final class HeadProfileFile {
    private static final Pattern FINGERPRINT = Pattern.compile("\"modelFingerprint\"\\s*:\\s*\"([0-9a-f]+)\"");
    private static final Pattern HEAD =
            Pattern.compile("\\{\\s*\"layer\"\\s*:\\s*(\\d+)\\s*,\\s*\"kvHead\"\\s*:\\s*(\\d+)\\s*}");

    /**
     * The head lists of a profile: the retrieval heads; the induction heads alone (null: the profile was not made by
     * the razor method); the window heads that keep the compensation token (null: the profile was made before
     * calibration existed, and then no head has one: compensating every head can break retrieval, docs/FIDELITY.md).
     */
    public record Heads(boolean[][] retrieval, boolean[][] inductionOnly, boolean[][] compensated) {}

    private HeadProfileFile() {}

    /** Every head list of the profile, from one read of the file. */
    public static Heads read(Path file, String modelFingerprint, int layers, int kvHeads) throws IOException {
        String json = Files.readString(file);
        if (!json.contains("\"format\": \"razorstream-head-profile/1\"")) {
            throw new IllegalArgumentException(
                    file + ": not a razorstream head profile (format razorstream-head-profile/1)");
        }
        Matcher f = FINGERPRINT.matcher(json);
        if (!f.find()) throw new IllegalArgumentException(file + ": no modelFingerprint");
        if (!f.group(1).equals(modelFingerprint)) {
            throw new IllegalArgumentException(file + ": made for another model (fingerprint " + f.group(1)
                    + ", this model " + modelFingerprint + ")");
        }
        boolean[][] retrieval = heads(file, json, "retrievalHeads", layers, kvHeads);
        if (retrieval == null)
            throw new IllegalArgumentException(
                    file + ": no retrievalHeads (a profile from an older version? run `profile` again)");
        return new Heads(
                retrieval,
                heads(file, json, "inductionHeads", layers, kvHeads),
                heads(file, json, "compensatedHeads", layers, kvHeads));
    }

    /** The chosen set ("retrievalHeads"). */
    public static boolean[][] readRetrieval(Path file, String modelFingerprint, int layers, int kvHeads)
            throws IOException {
        return read(file, modelFingerprint, layers, kvHeads).retrieval();
    }

    /** The heads listed under {@code field}, or null when the profile has no such list. */
    private static boolean[][] heads(Path file, String json, String field, int layers, int kvHeads) {
        int at = json.indexOf('"' + field + '"');
        if (at < 0) return null;
        boolean[][] heads = new boolean[layers][kvHeads];
        Matcher h = HEAD.matcher(json.substring(at, json.indexOf(']', at) + 1));
        while (h.find()) {
            int l = Integer.parseInt(h.group(1)), k = Integer.parseInt(h.group(2));
            if (l >= layers || k >= kvHeads)
                throw new IllegalArgumentException(file + ": head (" + l + ", " + k + ") is outside the model");
            heads[l][k] = true;
        }
        return heads;
    }
}
