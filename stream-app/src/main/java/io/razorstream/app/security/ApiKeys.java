package io.razorstream.app.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The API keys file: one {@code KEY TENANT} pair per line ({@code #} starts a comment). Keys are held only as SHA-256
 * digests; a lookup digests the presented key, so the comparison does not depend on how much of a key matched. The same
 * file on every instance also gives them their shared secret for calls between instances ({@link #internalSecret}).
 */
public final class ApiKeys {
    private static final Pattern TENANT = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    private final Map<String, String> tenantByDigest;
    private final String internalSecret;

    private ApiKeys(Map<String, String> tenantByDigest, String internalSecret) {
        this.tenantByDigest = Map.copyOf(tenantByDigest);
        this.internalSecret = internalSecret;
    }

    /** Reads {@code file}; every problem names the file and line. */
    public static ApiKeys load(Path file) {
        List<String> lines;
        byte[] content;
        try {
            content = Files.readAllBytes(file);
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("setting auth.keys-file: cannot read " + file + ": " + e.getMessage());
        }
        Map<String, String> keys = new HashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] parts = line.split("\\s+");
            String where = file + " line " + (i + 1);
            if (parts.length != 2)
                throw new IllegalArgumentException(
                        where + ": expected 'KEY TENANT', got " + parts.length + " field(s)");
            if (parts[0].length() < 16)
                throw new IllegalArgumentException(where + ": the key is shorter than 16 characters");
            if (!TENANT.matcher(parts[1]).matches())
                throw new IllegalArgumentException(
                        where + ": the tenant must be 1-64 of A-Z a-z 0-9 . _ -, got '" + parts[1] + "'");
            if (keys.put(digest(parts[0]), parts[1]) != null)
                throw new IllegalArgumentException(where + ": the key is listed twice");
        }
        if (keys.isEmpty()) throw new IllegalArgumentException("setting auth.keys-file: " + file + " lists no keys");
        return new ApiKeys(keys, "rs-internal-" + HexFormat.of().formatHex(sha256(content)));
    }

    /** The tenant of {@code key}, or empty for a key not in the file. */
    public Optional<String> tenantOf(String key) {
        return key == null ? Optional.empty() : Optional.ofNullable(tenantByDigest.get(digest(key)));
    }

    /** What instances with the same keys file send each other to vouch for the tenant of a forwarded call. */
    public String internalSecret() {
        return internalSecret;
    }

    static boolean sameSecret(String a, String b) {
        return a != null
                && b != null
                && MessageDigest.isEqual(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
    }

    private static String digest(String key) {
        return HexFormat.of().formatHex(sha256(key.getBytes(StandardCharsets.UTF_8)));
    }

    private static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
