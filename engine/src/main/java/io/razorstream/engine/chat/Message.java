package io.razorstream.engine.chat;

/**
 * One message of a conversation: role {@code system}, {@code user} or {@code assistant}, and its text; or, with role
 * {@link #RAW}, text the client rendered itself, added as it is (no template markup; control-token texts in it are
 * control tokens).
 */
public record Message(String role, String content) {
    /** The role of a message added as it is. */
    public static final String RAW = "raw";

    public Message {
        if (!role.equals("system") && !role.equals("user") && !role.equals("assistant") && !role.equals(RAW)) {
            throw new IllegalArgumentException("role must be system, user, assistant or raw, got '" + role + "'");
        }
    }

    public static Message system(String content) {
        return new Message("system", content);
    }

    public static Message user(String content) {
        return new Message("user", content);
    }

    public static Message assistant(String content) {
        return new Message("assistant", content);
    }

    /** Text added as it is. */
    public static Message raw(String content) {
        return new Message(RAW, content);
    }

    public boolean isRaw() {
        return role.equals(RAW);
    }
}
