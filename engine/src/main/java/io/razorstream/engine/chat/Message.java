package io.razorstream.engine.chat;

/** One message of a conversation: role {@code system}, {@code user} or {@code assistant}, and its text. */
public record Message(String role, String content) {
    public Message {
        if (!role.equals("system") && !role.equals("user") && !role.equals("assistant")) {
            throw new IllegalArgumentException("role must be system, user or assistant, got '" + role + "'");
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
}
