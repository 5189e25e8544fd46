package io.razorstream.engine.profile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads back the chosen heads of a profile written by {@link HeadProfile#toJson()}, checking it is this model's. */
public final class HeadProfileFile {
    private static final Pattern FINGERPRINT = Pattern.compile("\"modelFingerprint\"\\s*:\\s*\"([0-9a-f]+)\"");
    private static final Pattern HEAD = Pattern.compile("\\{\\s*\"layer\"\\s*:\\s*(\\d+)\\s*,\\s*\"kvHead\"\\s*:\\s*(\\d+)\\s*}");

    private HeadProfileFile() {}

    /** The chosen set ("retrievalHeads"). */
    public static boolean[][] readRetrieval(Path file, String modelFingerprint, int layers, int kvHeads) throws IOException {
        return readHeads(file, modelFingerprint, layers, kvHeads, "retrievalHeads");
    }

    /**
     * The window heads that keep the compensation token ("compensatedHeads"), or null when the profile was made
     * before calibration existed (then no head has one: compensating every head can break retrieval; docs/FIDELITY.md).
     */
    public static boolean[][] readCompensated(Path file, String modelFingerprint, int layers, int kvHeads) throws IOException {
        return Files.readString(file).contains("\"compensatedHeads\"") ? readHeads(file, modelFingerprint, layers, kvHeads, "compensatedHeads") : null;
    }

    /** A list of heads the profile names under {@code field} ("retrievalHeads", "inductionHeads", "compensatedHeads"). */
    public static boolean[][] readHeads(Path file, String modelFingerprint, int layers, int kvHeads, String field) throws IOException {
        String json = Files.readString(file);
        if (!json.contains("\"format\": \"razorstream-head-profile/1\"")) {
            throw new IllegalArgumentException(file + ": not a razorstream head profile (format razorstream-head-profile/1)");
        }
        Matcher f = FINGERPRINT.matcher(json);
        if (!f.find()) throw new IllegalArgumentException(file + ": no modelFingerprint");
        if (!f.group(1).equals(modelFingerprint)) {
            throw new IllegalArgumentException(file + ": made for another model (fingerprint " + f.group(1) + ", this model " + modelFingerprint + ")");
        }
        int at = json.indexOf('"' + field + '"');
        if (at < 0) {
            throw new IllegalArgumentException(file + ": no " + field + (field.equals("inductionHeads")
                    ? " (only profiles made with --method razor have them)" : " (a profile from an older version? run `profile` again)"));
        }
        boolean[][] retrieval = new boolean[layers][kvHeads];
        Matcher h = HEAD.matcher(json.substring(at, json.indexOf(']', at) + 1));
        while (h.find()) {
            int l = Integer.parseInt(h.group(1)), k = Integer.parseInt(h.group(2));
            if (l >= layers || k >= kvHeads) throw new IllegalArgumentException(file + ": head (" + l + ", " + k + ") is outside the model");
            retrieval[l][k] = true;
        }
        return retrieval;
    }
}
