package io.razorstream.engine.chat;

import io.razorstream.engine.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Chat formats of the common model families, rendered as text whose control tokens (e.g. {@code <|im_start|>}) the
 * tokenizer turns into single tokens. A conversation renders message by message: {@code open(role, previous role) +
 * content + close(role)}, and the generation prompt is the opening of an assistant message. So the text an appended
 * turn adds ({@link #append}) is exactly what rendering the whole conversation adds, and a session can grow turn by
 * turn on its KV cache. Every turn opens with a control token (or follows one), so tokenising the appended text alone
 * gives the same tokens too.
 *
 * <p>The families are recognised from the GGUF's {@code tokenizer.chat_template} (a Jinja text) by their marker tokens
 * ({@link #detect}); the rendering is this code's, not a Jinja interpreter's.
 */
public enum ChatTemplate implements ChatFormat {
    /** Qwen, and many others: {@code <|im_start|>role\ncontent<|im_end|>\n}. */
    CHATML,
    /**
     * Qwen3: ChatML, with the model thinking first ({@code <think>...</think>} opens its reply, Qwen3's default). The
     * reasoning stays in the session's cache as generated: a session grows on its cache and is never re-rendered, so
     * the template's dropping of earlier turns' reasoning does not apply.
     */
    QWEN3,
    /**
     * Qwen3 with thinking off (its template's {@code enable_thinking=false}): the reply opens with an empty think
     * block.
     */
    QWEN3_NO_THINK {
        @Override
        String open(String role, String previous) {
            return "assistant".equals(role)
                    ? super.open(role, previous) + "<think>\n\n</think>\n\n"
                    : super.open(role, previous);
        }
    },
    /**
     * Gemma 1-3: {@code <start_of_turn>user\ncontent<end_of_turn>\n}, the assistant's role named {@code model}. Gemma
     * has no system role: as llama.cpp does, a system message opens the first user turn, followed by a blank line.
     */
    GEMMA {
        @Override
        String open(String role, String previous) {
            return switch (role) {
                case "system" -> "<start_of_turn>user\n";
                case "user" -> "system".equals(previous) ? "" : "<start_of_turn>user\n";
                case "assistant" -> "<start_of_turn>model\n";
                default -> "<start_of_turn>" + role + "\n";
            };
        }

        @Override
        String close(String role) {
            return "system".equals(role) ? "\n\n" : "<end_of_turn>\n";
        }
    },
    /** Llama 3: header tokens around the role, {@code <|eot_id|>} after each message. */
    LLAMA3 {
        @Override
        String open(String role, String previous) {
            return "<|start_header_id|>" + role + "<|end_header_id|>\n\n";
        }

        @Override
        String close(String role) {
            return "<|eot_id|>";
        }
    },
    /** Llama 2: {@code <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant </s>}. */
    LLAMA2 {
        @Override
        String open(String role, String previous) {
            return switch (role) {
                case "system" -> "<s>[INST] <<SYS>>\n";
                case "user" -> "system".equals(previous) ? "" : "<s>[INST] ";
                default -> " ";
            };
        }

        @Override
        String close(String role) {
            return switch (role) {
                case "system" -> "\n<</SYS>>\n\n";
                case "user" -> " [/INST]";
                default -> " </s>";
            };
        }
    },
    /** Mistral (v1 style): {@code [INST] system\n\nuser [/INST] assistant</s>}. */
    MISTRAL {
        @Override
        String open(String role, String previous) {
            return switch (role) {
                case "system" -> " [INST] ";
                case "user" -> "system".equals(previous) ? "" : " [INST] ";
                default -> " ";
            };
        }

        @Override
        String close(String role) {
            return switch (role) {
                case "system" -> "\n\n";
                case "user" -> " [/INST]";
                default -> "</s>";
            };
        }
    },
    /** Phi-3 / Phi-4-mini: {@code <|role|>\ncontent<|end|>\n}. */
    PHI3 {
        @Override
        String open(String role, String previous) {
            return "<|" + role + "|>\n";
        }

        @Override
        String close(String role) {
            return "<|end|>\n";
        }
    },
    /** Zephyr: {@code <|role|>\ncontent</s>\n}. */
    ZEPHYR {
        @Override
        String open(String role, String previous) {
            return "<|" + role + "|>\n";
        }

        @Override
        String close(String role) {
            return "</s>\n";
        }
    },
    /** No template: messages are appended as they are (models without a chat template, the synthetic model). */
    PLAIN {
        @Override
        String open(String role, String previous) {
            return "";
        }

        @Override
        String close(String role) {
            return "";
        }
    };

    /** The opening of a message: ChatML's ({@code <|im_start|>role\n}) unless the family says otherwise. */
    String open(String role, String previous) {
        return "<|im_start|>" + role + "\n";
    }

    /** The closing of a message: ChatML's ({@code <|im_end|>\n}) unless the family says otherwise. */
    String close(String role) {
        return "<|im_end|>\n";
    }

    /** The whole conversation, with the opening of the assistant's reply when {@code generationPrompt}. */
    public String render(List<Message> messages, boolean generationPrompt) {
        StringBuilder sb = new StringBuilder();
        String previous = null;
        for (Message m : messages) {
            sb.append(open(m.role(), previous)).append(m.content()).append(close(m.role()));
            previous = m.role();
        }
        if (generationPrompt) sb.append(open("assistant", previous));
        return sb.toString();
    }

    /**
     * The text that follows a conversation rendered up to an assistant reply the model generated (whose closing the
     * model ended with an end-of-turn token, not fed to the cache): the closing of that reply when
     * {@code afterGeneratedReply}, then {@code next}, then the generation prompt.
     */
    public String append(String previousRole, boolean afterGeneratedReply, Message next, boolean generationPrompt) {
        StringBuilder sb = new StringBuilder();
        for (var s : appendSegments(previousRole, afterGeneratedReply, next, generationPrompt)) sb.append(s.text());
        return sb.toString();
    }

    /**
     * {@link #append} as tokenizer segments: the template's markup may hold control tokens, the message's content never
     * does (a user who types {@code <|im_end|>} gets those characters).
     */
    public List<Tokenizer.Segment> appendSegments(
            String previousRole, boolean afterGeneratedReply, Message next, boolean generationPrompt) {
        StringBuilder before = new StringBuilder(), after = new StringBuilder();
        if (afterGeneratedReply) before.append(close("assistant"));
        before.append(open(next.role(), previousRole));
        after.append(close(next.role()));
        if (generationPrompt) after.append(open("assistant", next.role()));
        return List.of(
                new Tokenizer.Segment(before.toString(), true),
                new Tokenizer.Segment(next.content(), false),
                new Tokenizer.Segment(after.toString(), true));
    }

    @Override
    public List<Tokenizer.Segment> turnSegments(ConversationState state, Message next, boolean generationPrompt) {
        if (this == PLAIN) return List.of(new Tokenizer.Segment(next.content(), false));
        String previous = state.lastRole().isEmpty() ? null : state.lastRole();
        return appendSegments(previous, state.afterReply(), next, generationPrompt);
    }

    /** The family of a GGUF {@code tokenizer.chat_template}, or PLAIN when none is recognised (or there is none). */
    public static ChatTemplate detect(String jinja) {
        if (jinja == null || jinja.isBlank()) return PLAIN;
        if (jinja.contains("<|im_start|>")) return jinja.contains("<think>") ? QWEN3 : CHATML;
        if (jinja.contains("<start_of_turn>")) return GEMMA;
        if (jinja.contains("<|start_header_id|>")) return LLAMA3;
        if (jinja.contains("<|assistant|>") && jinja.contains("<|end|>"))
            return PHI3; // before Zephyr, whose markers it shares
        if (jinja.contains("<|user|>") && jinja.contains("<|assistant|>")) return ZEPHYR;
        if (jinja.contains("<<SYS>>")) return LLAMA2;
        if (jinja.contains("[INST]")) return MISTRAL;
        return PLAIN;
    }

    /** The name {@link #named} takes: chatml, qwen3, qwen3-no-think, gemma, llama3, ... */
    @Override
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /**
     * By {@link #label} (chatml, qwen3, qwen3-no-think, gemma, llama3, llama2, mistral, phi3, zephyr, plain), for a
     * command-line or config override.
     */
    public static ChatTemplate named(String name) {
        String label = name.toLowerCase(Locale.ROOT).replace('_', '-');
        for (ChatTemplate t : values()) if (t.label().equals(label)) return t;
        throw new IllegalArgumentException("unknown chat template '" + name + "' (known: "
                + String.join(
                        ", ", Arrays.stream(values()).map(ChatTemplate::label).toList()) + ")");
    }
}
