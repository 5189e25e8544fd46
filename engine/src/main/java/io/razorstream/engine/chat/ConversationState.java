package io.razorstream.engine.chat;

import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.tokenizer.Tokenizer;

/**
 * What the next turn of a conversation needs besides its KV cache: the chat template family its turns are rendered with
 * (fixed by the first turn, so a session keeps its template whatever the service is configured with later; null
 * before), the role of the last message ("" before the first), whether that message was a generated reply (whose
 * closing markup the next turn adds), and the reply's last token when it was not fed to the cache yet. The state store
 * persists it beside the cache; {@link Conversation} is the only code that changes it.
 */
public final class ConversationState {
    private ChatTemplate template;
    private String lastRole;
    private boolean afterReply;
    private int[] pendingTokens;

    /** An empty conversation's state. */
    public ConversationState() {
        this(null, "", false, new int[0]);
    }

    /** A state as stored ({@code template} null: no turn yet). */
    public ConversationState(ChatTemplate template, String lastRole, boolean afterReply, int[] pendingTokens) {
        this.template = template;
        this.lastRole = lastRole;
        this.afterReply = afterReply;
        this.pendingTokens = pendingTokens.clone();
    }

    /** An independent copy (to return to: a turn taken back restores the state before it). */
    public ConversationState copy() {
        return new ConversationState(template, lastRole, afterReply, pendingTokens);
    }

    /** The template the conversation's turns are rendered with; null until its first turn. */
    public ChatTemplate template() {
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

    /**
     * The tokens a turn adds to a cache of {@code cachedTokens}: BOS when nothing came before (and the vocabulary wants
     * one), the pending tokens, then the message rendered with the template (the closing of a generated reply, the
     * message, the opening of the reply when {@code reply}), or, for PLAIN, the text as it is. The message's content
     * never turns into control tokens.
     */
    int[] turnTokens(Tokenizer tokenizer, ChatTemplate template, int cachedTokens, Message message, boolean reply) {
        boolean first = cachedTokens == 0 && pendingTokens.length == 0;
        int[] text;
        if (template == ChatTemplate.PLAIN) {
            text = message.content().isEmpty() ? new int[0] : tokenizer.encode(message.content(), false, false);
        } else {
            text = tokenizer.encode(
                    template.appendSegments(lastRole.isEmpty() ? null : lastRole, afterReply, message, reply), false);
        }
        boolean bos = first && tokenizer.vocabulary().addBos();
        int[] tokens = new int[(bos ? 1 : 0) + pendingTokens.length + text.length];
        int at = 0;
        if (bos) tokens[at++] = tokenizer.vocabulary().bos();
        System.arraycopy(pendingTokens, 0, tokens, at, pendingTokens.length);
        System.arraycopy(text, 0, tokens, at + pendingTokens.length, text.length);
        return tokens;
    }

    /** The turn's tokens, rendered with {@code used}, are in the cache. */
    void prefilled(ChatTemplate used, String role) {
        if (template == null) template = used;
        pendingTokens = new int[0];
        lastRole = role;
        afterReply = false;
    }

    /** A reply was generated after the turn. */
    void replied(Decoder.Reply reply) {
        pendingTokens = reply.hasPending() ? new int[] {reply.pendingToken()} : new int[0];
        lastRole = "assistant";
        afterReply = true;
    }

    /** Back to an empty conversation. */
    void reset() {
        template = null;
        pendingTokens = new int[0];
        lastRole = "";
        afterReply = false;
    }
}
