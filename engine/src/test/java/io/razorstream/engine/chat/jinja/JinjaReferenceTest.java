package io.razorstream.engine.chat.jinja;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Real chat templates of the families the engine loads (resources/chat-templates, sources in its README) rendered on
 * the conversations of conversations.json, against what Python's Jinja2 renders under Hugging Face's settings
 * (references.json, made by make_references.py): the same text, the same {@code raise_exception} message, or a failure
 * where Jinja2 fails too.
 */
class JinjaReferenceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ZonedDateTime FIXED_NOW = ZonedDateTime.of(2026, 12, 7, 16, 30, 0, 0, ZoneOffset.UTC);

    static Stream<Arguments> cases() throws IOException {
        Map<String, Map<String, Map<String, String>>> refs = read("references.json", new TypeReference<>() {});
        List<Arguments> out = new ArrayList<>();
        refs.remove("snippets");
        refs.forEach((template, cases) -> cases.forEach((c, expected) -> out.add(Arguments.of(template, c, expected))));
        return out.stream();
    }

    static Stream<Arguments> snippets() throws IOException {
        Map<String, Map<String, Map<String, String>>> refs = read("references.json", new TypeReference<>() {});
        return refs.get("snippets").entrySet().stream().map(e -> Arguments.of(e.getKey(), e.getValue()));
    }

    /** The language itself: whitespace control, scoping, Python's arithmetic and string methods, filters, tests. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("snippets")
    void snippetRendersAsJinja2(String source, Map<String, String> expected) {
        JinjaTemplate template = JinjaTemplate.compile(source).withClock(() -> FIXED_NOW);
        check(template, Map.of(), expected);
    }

    @ParameterizedTest(name = "{0} / {1}")
    @MethodSource("cases")
    void rendersAsJinja2(String templateFile, String caseName, Map<String, String> expected) throws IOException {
        Map<String, Object> spec = read("conversations.json", new TypeReference<>() {});
        @SuppressWarnings("unchecked")
        Map<String, Object> c = (Map<String, Object>) ((Map<String, Object>) spec.get("cases")).get(caseName);
        Map<String, Map<String, Object>> tokens = read("tokens.json", new TypeReference<>() {});
        Map<String, Object> vars = new HashMap<>(tokens.get(templateFile));
        vars.put("messages", c.get("messages"));
        vars.put("tools", Boolean.TRUE.equals(c.get("with_tools")) ? spec.get("tools") : null);
        vars.put("add_generation_prompt", c.get("generation_prompt"));
        check(JinjaTemplate.compile(text(templateFile)).withClock(() -> FIXED_NOW), vars, expected);
    }

    /** Wrong operand types and runaway recursion fail as template errors, never as stray Java exceptions. */
    @org.junit.jupiter.api.Test
    void failuresAreTemplateErrors() {
        for (String source : new String[] {
            "{{ 'a'|round }}", "{{ range('x') }}", "{{ 'abc'.replace('a') }}",
            "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "{{ 1 + 'a' }}", "{{ none.x.y }}"
        }) {
            assertThatThrownBy(() -> JinjaTemplate.compile(source).render(Map.of()))
                    .as(source)
                    .isInstanceOf(JinjaException.class);
        }
    }

    private static void check(JinjaTemplate template, Map<String, Object> vars, Map<String, String> expected) {
        if (expected.containsKey("text")) {
            assertThat(template.render(vars)).isEqualTo(expected.get("text"));
        } else if (expected.containsKey("raised")) {
            assertThatThrownBy(() -> template.render(vars)).isInstanceOfSatisfying(JinjaException.class, e -> {
                assertThat(e.raisedByTemplate()).isTrue();
                assertThat(e.detail()).isEqualTo(expected.get("raised"));
            });
        } else {
            assertThatThrownBy(() -> template.render(vars))
                    .isInstanceOfSatisfying(
                            JinjaException.class,
                            e -> assertThat(e.raisedByTemplate()).isFalse());
        }
    }

    private static String text(String resource) throws IOException {
        try (InputStream in = JinjaReferenceTest.class.getResourceAsStream("/chat-templates/" + resource)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static <T> T read(String resource, TypeReference<T> type) throws IOException {
        return JSON.readValue(text(resource), type);
    }
}
