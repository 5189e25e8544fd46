package io.razorstream.engine.chat;

import io.razorstream.engine.chat.jinja.JinjaException;
import io.razorstream.engine.chat.jinja.JinjaTemplate;
import io.razorstream.engine.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The model's own chat template (the GGUF's {@code tokenizer.chat_template}), rendered as Hugging Face renders it.
 *
 * <p>A session grows on its KV cache, so a turn prefills only the text it adds. That text is found by rendering twice:
 * the conversation as the cache holds it ({@code before}: the messages so far, or, after a generated reply, the
 * conversation up to the reply's generation prompt followed by the reply as the model wrote it) and the conversation
 * with the new message ({@code after}). For most templates {@code before} is a prefix of {@code after} and the turn
 * adds the rest. Some templates rewrite earlier turns (Qwen3 drops the reasoning of past replies, Mistral's moves the
 * system prompt to the last user message): there the cache keeps what it was given, and the turn adds {@code after}'s
 * text from where {@code before}'s tail reappears in it ({@link #added}), so no text is repeated or skipped.
 *
 * <p>The new message's content is located exactly by rendering it once more as a marker, and stays plain text (never
 * control tokens).
 */
public final class ModelChatTemplate implements ChatFormat {
    /** The label sessions store for the model's own template. */
    public static final String LABEL = "jinja";

    /** A private-use character run no message contains, standing for the new message's content. */
    private static final String MARKER = "\uE000\uE001razorstream-content\uE001\uE000";

    private final JinjaTemplate template;
    private final String bosToken;
    private final String eosToken;
    private final Map<String, Object> extra;

    /**
     * {@code source} compiled ({@link JinjaException} when it does not parse); {@code bosToken}/{@code eosToken}: the
     * texts the template sees as {@code bos_token}/{@code eos_token} (null: none); {@code extra}: further template
     * variables (e.g. {@code enable_thinking}).
     */
    public ModelChatTemplate(String source, String bosToken, String eosToken, Map<String, Object> extra) {
        this(JinjaTemplate.compile(source), bosToken, eosToken, extra);
    }

    ModelChatTemplate(JinjaTemplate template, String bosToken, String eosToken, Map<String, Object> extra) {
        this.template = template;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.extra = Map.copyOf(extra);
    }

    /** The same template with {@code strftime_now} reading {@code clock} (Llama 3.x prints today's date). */
    public ModelChatTemplate withClock(java.util.function.Supplier<java.time.ZonedDateTime> clock) {
        return new ModelChatTemplate(template.withClock(clock), bosToken, eosToken, extra);
    }

    @Override
    public String label() {
        return LABEL;
    }

    @Override
    public boolean keepsHistory() {
        return true;
    }

    /** The whole conversation as the template renders it (tools: OpenAI tool definitions, or null). */
    public String render(List<Message> messages, boolean generationPrompt, List<Map<String, Object>> tools) {
        Map<String, Object> vars = new HashMap<>(extra);
        List<Object> msgs = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            msgs.add(map);
        }
        vars.put("messages", msgs);
        vars.put("add_generation_prompt", generationPrompt);
        vars.put("bos_token", bosToken);
        vars.put("eos_token", eosToken);
        vars.put("tools", tools);
        try {
            return template.render(vars);
        } catch (JinjaException e) {
            throw new TurnRefused(
                    e.raisedByTemplate()
                            ? "the model's chat template refuses this conversation: " + e.detail()
                            : "the model's chat template failed on this conversation: " + e.getMessage());
        }
    }

    @Override
    public List<Tokenizer.Segment> turnSegments(ConversationState state, Message next, boolean generationPrompt) {
        List<Message> history = state.history();
        String before = rendered(state);
        List<Message> withNext = new ArrayList<>(history);
        withNext.add(next);
        String added = added(before, render(withNext, generationPrompt, null));
        withNext.set(withNext.size() - 1, new Message(next.role(), MARKER));
        String marked = added(before, render(withNext, generationPrompt, null));
        int at = marked.indexOf(MARKER);
        if (at >= 0) {
            String pre = marked.substring(0, at), post = marked.substring(at + MARKER.length());
            if (added.equals(pre + next.content() + post)) {
                return List.of(
                        new Tokenizer.Segment(pre, true),
                        new Tokenizer.Segment(next.content(), false),
                        new Tokenizer.Segment(post, true));
            }
        }
        // The template changes the content (e.g. trims it): find it as rendered, else the whole text is markup.
        String content = next.content().strip();
        int found = content.isEmpty() ? -1 : added.lastIndexOf(content);
        if (found < 0) return List.of(new Tokenizer.Segment(added, true));
        return List.of(
                new Tokenizer.Segment(added.substring(0, found), true),
                new Tokenizer.Segment(content, false),
                new Tokenizer.Segment(added.substring(found + content.length()), true));
    }

    /** The text the cache holds for {@code state}'s conversation (as this template renders it). */
    String rendered(ConversationState state) {
        List<Message> history = state.history();
        if (history.isEmpty()) return "";
        if (state.afterReply()) {
            Message reply = history.get(history.size() - 1);
            return render(history.subList(0, history.size() - 1), true, null) + reply.content();
        }
        return render(history, false, null);
    }

    /**
     * What {@code after} adds to a cache holding {@code before}: after their common prefix, {@code after}'s text past
     * the longest tail of {@code before} that it starts with (none when {@code before} is a prefix of {@code after}).
     */
    static String added(String before, String after) {
        int p = 0, n = Math.min(before.length(), after.length());
        while (p < n && before.charAt(p) == after.charAt(p)) p++;
        String b = before.substring(p), a = after.substring(p);
        for (int k = Math.min(b.length(), a.length()); k > 0; k--) {
            if (b.endsWith(a.substring(0, k))) return a.substring(k);
        }
        return a;
    }
}
