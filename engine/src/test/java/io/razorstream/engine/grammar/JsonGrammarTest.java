package io.razorstream.engine.grammar;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The JSON grammars accept exactly the texts they should, byte by byte, and know how far a text is from whole. */
class JsonGrammarTest {
    private static boolean accepts(Grammar g, String text) {
        GrammarState s = GrammarState.start(g).advance(text.getBytes(StandardCharsets.UTF_8));
        return s != null && s.accepting();
    }

    private static boolean prefix(Grammar g, String text) {
        return GrammarState.start(g).advance(text.getBytes(StandardCharsets.UTF_8)) != null;
    }

    @Test
    void anyObjectIsCompactJson() {
        Grammar g = JsonGrammar.anyObject();
        assertThat(accepts(g, "{}")).isTrue();
        assertThat(accepts(g, "{\"a\":[1,-2.5e+3,true,null,\"x\\n\\u00e9 ü 海\"],\"b\":{}}"))
                .isTrue();
        assertThat(accepts(g, "[]")).as("json_object: an object").isFalse();
        assertThat(accepts(g, "{\"a\":01}")).isFalse();
        assertThat(accepts(g, "{\"a\":1,}")).isFalse();
        assertThat(prefix(g, "{\"a\":\"\u0001"))
                .as("control characters must be escaped")
                .isFalse();
        assertThat(prefix(g, "{\"a\":\"\\q")).isFalse();
        assertThat(prefix(new String(new byte[] {'{', '"', (byte) 0xC0}, StandardCharsets.ISO_8859_1), g))
                .as("overlong UTF-8")
                .isFalse();
        assertThat(GrammarState.start(g)
                        .advance("{\"ab".getBytes(StandardCharsets.UTF_8))
                        .minRemaining())
                .as("close the key, a colon, the shortest value (a digit), the brace")
                .isEqualTo(4);
    }

    private static boolean prefix(String latin1Bytes, Grammar g) {
        return GrammarState.start(g).advance(latin1Bytes.getBytes(StandardCharsets.ISO_8859_1)) != null;
    }

    static final String PERSON = """
            {"type": "object",
             "properties": {
               "name": {"type": "string", "minLength": 1, "maxLength": 12},
               "age": {"type": "integer"},
               "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 2},
               "active": {"type": "boolean"},
               "pet": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Pet"}]}
             },
             "required": ["name", "age", "pet"],
             "$defs": {"Pet": {"type": "object", "properties": {"kind": {"const": "cat"}, "next": {"$ref": "#/$defs/Pet"}},
                       "required": ["kind"]}}}
            """;

    @Test
    void aSchemaAllowsItsValuesOnly() {
        Grammar g = JsonGrammar.of(PERSON);
        assertThat(accepts(g, "{\"name\":\"Al\",\"age\":3,\"pet\":null}")).isTrue();
        assertThat(accepts(
                        g,
                        "{\"name\":\"Al\",\"age\":-3,\"tags\":[\"a\",\"c\"],\"active\":true,"
                                + "\"pet\":{\"kind\":\"cat\",\"next\":{\"kind\":\"cat\"}}}"))
                .isTrue();
        assertThat(accepts(g, "{\"age\":3,\"pet\":null}")).as("required name").isFalse();
        assertThat(accepts(g, "{\"name\":\"\",\"age\":3,\"pet\":null}"))
                .as("minLength")
                .isFalse();
        assertThat(accepts(g, "{\"name\":\"Al\",\"age\":3.5,\"pet\":null}"))
                .as("integer")
                .isFalse();
        assertThat(accepts(g, "{\"name\":\"Al\",\"age\":3,\"tags\":[\"a\",\"b\",\"c\"],\"pet\":null}"))
                .as("maxItems")
                .isFalse();
        assertThat(accepts(g, "{\"name\":\"Al\",\"age\":3,\"tags\":[\"d\"],\"pet\":null}"))
                .as("enum")
                .isFalse();
        assertThat(accepts(g, "{\"name\":\"Al\",\"age\":3,\"pet\":{\"kind\":\"dog\"}}"))
                .as("const")
                .isFalse();
        assertThat(accepts(g, "{\"name\":\"Al\",\"age\":3,\"pet\":null,\"x\":1}"))
                .as("no other properties")
                .isFalse();
        assertThat(accepts(g, "{\"name\":\"1234567890123\",\"age\":3,\"pet\":null}"))
                .as("maxLength")
                .isFalse();
    }

    @Test
    void whatTheGrammarCannotExpressIsRefusedByName() {
        assertThatThrownBy(() -> JsonGrammar.of("{\"type\":\"string\",\"pattern\":\"^a+$\"}"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'pattern'");
        assertThatThrownBy(() -> JsonGrammar.of(
                        "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"number\"," + "\"minimum\":0}}}"))
                .hasMessageContaining("#/properties/n")
                .hasMessageContaining("'minimum'");
        assertThatThrownBy(() -> JsonGrammar.of("{\"$ref\":\"#/$defs/Missing\"}"))
                .hasMessageContaining("points nowhere");
        assertThatThrownBy(() -> JsonGrammar.of("{\"type\":")).hasMessageContaining("not JSON");
    }
}
