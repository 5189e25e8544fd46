package io.razorstream.engine.chat;

import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.tokenizer.Tokenizer;
import io.razorstream.engine.tokenizer.Utf8StreamDecoder;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the next turn of a conversation needs besides its KV cache: the label of the chat format its turns are rendered
 * with (fixed by the first turn, so a session keeps its format whatever the service is configured with later; null
 * before), the role of the last message ("" before the first), whether that message was a generated reply (whose
 * closing markup the next turn adds), the reply's last token when it was not fed to the cache yet, and, for a format
 * that renders the whole conversation (the model's own template), the messages so far, replies as the model wrote them.
 * The state store persists it beside the cache; {@link Conversation} is the only code that changes it.
 */
public final class ConversationState {
    private String template;
    private String lastRole;
    private boolean afterReply;
    private int[] pendingTokens;
    private final List<Message> history;

    /** An empty conversation's state. */
    public ConversationState() {
        this(null, "", false, new int[0], List.of());
    }

    /** A state as stored ({@code template} null: no turn yet; {@code history} empty unless its format keeps one). */
    public ConversationState(
            String template, String lastRole, boolean afterReply, int[] pendingTokens, List<Message> history) {
        this.template = template == null || template.isEmpty() ? null : template;
        this.lastRole = lastRole;
        this.afterReply = afterReply;
        this.pendingTokens = pendingTokens.clone();
        this.history = new ArrayList<>(history);
    }

    /** An independent copy (to return to: a turn taken back restores the state before it). */
    public ConversationState copy() {
        return new ConversationState(template, lastRole, afterReply, pendingTokens, history);
    }

    /** The label of the format the conversation's turns are rendered with; null until its first turn. */
    public String template() {
        return template;
    }

    public String lastRole() {
        return lastRole;
    }

    public boolean afterReply() {
        return afterReply;
    }

    /** Tokens generated but not in the cache yet (fed first by the next turn). */
    public int[] pendingTokens() {
        return pendingTokens.clone();
    }

    /** The messages so far when the format keeps them (else empty). */
    public List<Message> history() {
        return List.copyOf(history);
    }

    /**
     * The tokens a turn adds to a cache of {@code cachedTokens}: BOS when nothing came before (and the vocabulary wants
     * one; a template's own leading BOS is then not added twice), the pending tokens, then what {@code format} renders
     * for the message (the closing of a generated reply, the message, the opening of the reply when {@code reply}). The
     * message's content never turns into control tokens.
     */
    int[] turnTokens(Tokenizer tokenizer, ChatFormat format, int cachedTokens, Message message, boolean reply) {
        boolean first = cachedTokens == 0 && pendingTokens.length == 0;
        // a raw message is the client's own rendering: as it is, after the reply it follows (no closing markup)
        int[] text = message.isRaw()
                ? tokenizer.encode(message.content(), false, true)
                : tokenizer.encode(format.turnSegments(this, message, reply), false);
        boolean bos = first && tokenizer.vocabulary().addBos();
        if (bos && text.length > 0 && text[0] == tokenizer.vocabulary().bos())
            text = Arrays.copyOfRange(text, 1, text.length);
        int[] tokens = new int[(bos ? 1 : 0) + pendingTokens.length + text.length];
        int at = 0;
        if (bos) tokens[at++] = tokenizer.vocabulary().bos();
        System.arraycopy(pendingTokens, 0, tokens, at, pendingTokens.length);
        System.arraycopy(text, 0, tokens, at + pendingTokens.length, text.length);
        return tokens;
    }

    /** The turn's tokens, rendered with {@code used}, are in the cache. */
    void prefilled(ChatFormat used, Message message) {
        if (template == null) template = used.label();
        // the template does not see raw text (nor the reply to it): it renders the conversation it was given
        if (used.keepsHistory() && !message.isRaw()) history.add(message);
        pendingTokens = new int[0];
        lastRole = message.role();
        afterReply = false;
    }

    /**
     * A reply was generated after the turn; {@code used} keeps it as the model wrote it (all its tokens). A reply to
     * raw text belongs to the client's own rendering: the template neither sees it nor closes it.
     */
    void replied(ChatFormat used, Tokenizer tokenizer, Decoder.Reply reply) {
        boolean raw = lastRole.equals(Message.RAW);
        if (used.keepsHistory() && !raw) {
            Utf8StreamDecoder utf8 = new Utf8StreamDecoder();
            StringBuilder text = new StringBuilder();
            for (int t : reply.tokens()) text.append(utf8.feed(tokenizer.piece(t)));
            history.add(Message.assistant(text.toString()));
        }
        pendingTokens = reply.hasPending() ? new int[] {reply.pendingToken()} : new int[0];
        lastRole = raw ? Message.RAW : "assistant";
        afterReply = !raw;
    }

    /** Back to an empty conversation. */
    void reset() {
        template = null;
        pendingTokens = new int[0];
        lastRole = "";
        afterReply = false;
        history.clear();
    }
}
