package io.razorstream.engine.chat;

import io.razorstream.engine.tokenizer.Tokenizer;

import java.util.List;

/**
 * How a conversation becomes prompt text, turn by turn: a built-in family ({@link ChatTemplate}) or the model's own
 * Jinja template ({@link ModelChatTemplate}). A session records the {@link #label} of the format its first turn used
 * and keeps it.
 */
public interface ChatFormat {
    /** The name a session stores and {@code chat.template} takes. */
    String label();

    /**
     * The text a turn adds after the conversation {@code state} describes: the closing of a generated reply, the
     * message {@code next}, and the opening of the reply when {@code generationPrompt}; as tokenizer segments, so that
     * the message's content never turns into control tokens. Throws {@link TurnRefused} when the format refuses the
     * conversation (a template's own {@code raise_exception}).
     */
    List<Tokenizer.Segment> turnSegments(ConversationState state, Message next, boolean generationPrompt);

    /** Whether the format renders from the whole conversation, so that the state must keep its messages. */
    default boolean keepsHistory() {
        return false;
    }
}
