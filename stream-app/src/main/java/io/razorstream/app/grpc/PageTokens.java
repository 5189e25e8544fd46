package io.razorstream.app.grpc;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;

/**
 * ListSessions page tokens: opaque to clients, checked on the way back. A token is the last session id of a page with a
 * truncated SHA-256 over it and the application id, base64url: a token edited, cut or made up is refused
 * (INVALID_ARGUMENT) instead of silently listing from somewhere else. Any instance of the application takes any
 * instance's tokens.
 */
final class PageTokens {
    private static final int MAC_BYTES = 8;
    private final byte[] salt;

    PageTokens(String applicationId) {
        this.salt = ("razorstream-page-token:" + applicationId + ":").getBytes(StandardCharsets.UTF_8);
    }

    String encode(String lastSessionId) {
        byte[] id = lastSessionId.getBytes(StandardCharsets.UTF_8);
        return Base64.getUrlEncoder()
                .withoutPadding()
                .encodeToString(ByteBuffer.allocate(MAC_BYTES + id.length)
                        .put(mac(id))
                        .put(id)
                        .array());
    }

    /** The session id a token continues after, or null if the token is not one this application gave out. */
    String decode(String token) {
        byte[] raw;
        try {
            raw = Base64.getUrlDecoder().decode(token);
        } catch (IllegalArgumentException e) {
            return null;
        }
        if (raw.length <= MAC_BYTES) return null;
        byte[] id = Arrays.copyOfRange(raw, MAC_BYTES, raw.length);
        return MessageDigest.isEqual(mac(id), Arrays.copyOf(raw, MAC_BYTES))
                ? new String(id, StandardCharsets.UTF_8)
                : null;
    }

    private byte[] mac(byte[] id) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(salt);
            return Arrays.copyOf(sha.digest(id), MAC_BYTES);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
