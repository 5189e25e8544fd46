package io.razorstream.engine.grammar;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.razorstream.engine.grammar.Grammar.Element;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.razorstream.engine.grammar.Grammar.anyOf;
import static io.razorstream.engine.grammar.Grammar.range;
import static io.razorstream.engine.grammar.Grammar.ref;
import static io.razorstream.engine.grammar.Grammar.seq;

/**
 * Grammars of JSON: any JSON object ({@code response_format: json_object}), or the values a JSON Schema allows
 * ({@code json_schema}), written compactly (no whitespace between tokens, which JSON does not need). The schema subset:
 * {@code type} (one or a list), {@code properties} with {@code required} (properties come in the schema's order,
 * optional ones may be left out), {@code additionalProperties} (false by default here: only the listed properties are
 * written, which every such schema allows; true or a schema adds free ones), {@code items} with {@code minItems} and
 * {@code maxItems}, {@code enum}, {@code const}, {@code minLength}/{@code maxLength}, {@code anyOf}/{@code oneOf},
 * {@code $ref} into {@code $defs}/{@code definitions} (recursion included). A keyword that restricts values in a way
 * this grammar cannot express ({@code pattern}, {@code format}, {@code minimum}, ...) is refused by name rather than
 * ignored: the output would not be guaranteed to validate.
 */
public final class JsonGrammar {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Longest unrolled bound (maxLength, maxItems): beyond it the grammar would be large for little gain. */
    private static final int MAX_BOUND = 256;

    private static final Set<String> UNSUPPORTED = Set.of(
            "pattern",
            "format",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "patternProperties",
            "propertyNames",
            "uniqueItems",
            "contains",
            "minContains",
            "maxContains",
            "dependencies",
            "dependentRequired",
            "dependentSchemas",
            "if",
            "then",
            "else",
            "not",
            "minProperties",
            "maxProperties",
            "prefixItems",
            "unevaluatedProperties",
            "unevaluatedItems",
            "contentEncoding",
            "contentMediaType");

    private final Grammar.Builder b = new Grammar.Builder();
    private final JsonNode rootSchema;
    /** The $refs being compiled: a recursive reference meets its own rule, not a second copy. */
    private final Set<String> pending = new java.util.HashSet<>();

    private int next;

    private JsonGrammar(JsonNode rootSchema) {
        this.rootSchema = rootSchema;
        defineBasics();
    }

    /** Any JSON object (OpenAI's {@code json_object}: the reply is one object). */
    public static Grammar anyObject() {
        JsonGrammar g = new JsonGrammar(null);
        g.b.define("root", seq(ref(g.b.rule("object"))));
        return g.b.build("root");
    }

    /** The values {@code schema} allows; {@link IllegalArgumentException} naming what it cannot express. */
    public static Grammar of(JsonNode schema) {
        JsonGrammar g = new JsonGrammar(schema);
        int root = g.schema(schema, "#");
        g.b.define("root", seq(ref(root)));
        return g.b.build("root");
    }

    /** As {@link #of(JsonNode)}, from the schema's JSON text. */
    public static Grammar of(String schemaJson) {
        try {
            return of(JSON.readTree(schemaJson));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the JSON schema is not JSON: " + e.getOriginalMessage());
        }
    }

    private void defineBasics() {
        b.define(
                "value",
                seq(ref(b.rule("object"))),
                seq(ref(b.rule("array"))),
                seq(ref(b.rule("string"))),
                seq(ref(b.rule("number"))),
                seq("true"),
                seq("false"),
                seq("null"));
        b.define("object", seq("{}"), seq("{", ref(b.rule("member")), ref(b.rule("members")), "}"));
        b.define("members", seq(), seq(",", ref(b.rule("member")), ref(b.rule("members"))));
        b.define("member", seq(ref(b.rule("string")), ":", ref(b.rule("value"))));
        b.define("array", seq("[]"), seq("[", ref(b.rule("value")), ref(b.rule("elements")), "]"));
        b.define("elements", seq(), seq(",", ref(b.rule("value")), ref(b.rule("elements"))));
        b.define("string", seq("\"", ref(b.rule("chars")), "\""));
        b.define("chars", seq(), seq(ref(b.rule("char")), ref(b.rule("chars"))));
        int cont = b.define("cont", seq(range(0x80, 0xBF)));
        b.define(
                "char",
                seq(range(0x20, 0x21)),
                seq(range(0x23, 0x5B)),
                seq(range(0x5D, 0x7F)),
                seq("\\", anyOf("\"\\/bfnrt")),
                seq("\\u", ref(b.rule("hex")), ref(b.rule("hex")), ref(b.rule("hex")), ref(b.rule("hex"))),
                // UTF-8, well formed (no overlong forms, no surrogates), so the reply always decodes
                seq(range(0xC2, 0xDF), ref(cont)),
                seq(range(0xE0, 0xE0), range(0xA0, 0xBF), ref(cont)),
                seq(range(0xE1, 0xEC), ref(cont), ref(cont)),
                seq(range(0xED, 0xED), range(0x80, 0x9F), ref(cont)),
                seq(range(0xEE, 0xEF), ref(cont), ref(cont)),
                seq(range(0xF0, 0xF0), range(0x90, 0xBF), ref(cont), ref(cont)),
                seq(range(0xF1, 0xF3), ref(cont), ref(cont), ref(cont)),
                seq(range(0xF4, 0xF4), range(0x80, 0x8F), ref(cont), ref(cont)));
        b.define("hex", seq(range('0', '9')), seq(range('a', 'f')), seq(range('A', 'F')));
        b.define("digits", seq(), seq(range('0', '9'), ref(b.rule("digits"))));
        b.define(
                "integer",
                seq("0"),
                seq("-0"),
                seq(range('1', '9'), ref(b.rule("digits"))),
                seq("-", range('1', '9'), ref(b.rule("digits"))));
        b.define("frac", seq(".", range('0', '9'), ref(b.rule("digits"))));
        b.define(
                "exp",
                seq(anyOf("eE"), range('0', '9'), ref(b.rule("digits"))),
                seq(anyOf("eE"), anyOf("+-"), range('0', '9'), ref(b.rule("digits"))));
        int integer = b.rule("integer"), frac = b.rule("frac"), exp = b.rule("exp");
        b.define(
                "number",
                seq(ref(integer)),
                seq(ref(integer), ref(frac)),
                seq(ref(integer), ref(exp)),
                seq(ref(integer), ref(frac), ref(exp)));
    }

    /** The rule for the values {@code s} allows ({@code where}: its JSON pointer, for messages). */
    private int schema(JsonNode s, String where) {
        if (s.isBoolean()) {
            if (!s.asBoolean()) throw unsupported(where, "the schema false allows no value");
            return b.rule("value");
        }
        if (!s.isObject()) throw new IllegalArgumentException(where + ": a schema must be an object or a boolean");
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (UNSUPPORTED.contains(k)) {
                throw unsupported(where, "'" + k + "' cannot be expressed by the output grammar");
            }
        }
        if (s.has("$ref")) return reference(s.get("$ref").asText(), where);
        if (s.has("const")) return literals(List.of(s.get("const")));
        if (s.has("enum")) {
            List<JsonNode> values = new ArrayList<>();
            s.get("enum").forEach(values::add);
            if (values.isEmpty()) throw unsupported(where, "an empty enum allows no value");
            return literals(values);
        }
        for (String alt : new String[] {"anyOf", "oneOf"}) {
            if (s.has(alt)) {
                List<List<Element>> alts = new ArrayList<>();
                int i = 0;
                for (JsonNode sub : s.get(alt)) alts.add(seq(ref(schema(sub, where + "/" + alt + "/" + i++))));
                return b.define(fresh(alt), alts);
            }
        }
        if (s.has("allOf")) {
            if (s.get("allOf").size() != 1) throw unsupported(where, "'allOf' of several schemas is not supported");
            return schema(s.get("allOf").get(0), where + "/allOf/0");
        }
        JsonNode type = s.get("type");
        if (type == null) {
            if (s.has("properties")) return object(s, where);
            if (s.has("items")) return array(s, where);
            return b.rule("value");
        }
        if (type.isArray()) {
            List<List<Element>> alts = new ArrayList<>();
            for (JsonNode t : type) alts.add(seq(ref(typed(t.asText(), s, where))));
            return b.define(fresh("types"), alts);
        }
        return typed(type.asText(), s, where);
    }

    private int typed(String type, JsonNode s, String where) {
        return switch (type) {
            case "object" -> object(s, where);
            case "array" -> array(s, where);
            case "string" -> string(s, where);
            case "number" -> b.rule("number");
            case "integer" -> b.rule("integer");
            case "boolean" -> b.define(fresh("boolean"), seq("true"), seq("false"));
            case "null" -> b.define(fresh("null"), seq("null"));
            default -> throw new IllegalArgumentException(where + ": unknown type '" + type + "'");
        };
    }

    private int object(JsonNode s, String where) {
        JsonNode props = s.get("properties");
        JsonNode additional = s.get("additionalProperties");
        if (props == null || props.isEmpty()) {
            if (additional != null && additional.isBoolean() && !additional.asBoolean()) {
                return b.define(fresh("empty-object"), seq("{}"));
            }
            if (additional == null || additional.isBoolean()) return b.rule("object");
        }
        Set<String> required = new java.util.HashSet<>();
        if (s.has("required")) s.get("required").forEach(r -> required.add(r.asText()));
        List<Map.Entry<String, JsonNode>> entries = new ArrayList<>();
        if (props != null) props.fields().forEachRemaining(entries::add);
        for (String r : required) {
            if (props == null || !props.has(r)) {
                throw unsupported(where, "required property '" + r + "' has no schema in 'properties'");
            }
        }
        String id = fresh("object");
        // free properties after the listed ones, when the schema asks for them
        int free = -1;
        if (additional != null && !(additional.isBoolean() && !additional.asBoolean())) {
            int value = additional.isBoolean() ? b.rule("value") : schema(additional, where + "/additionalProperties");
            int kv = b.define(id + "-free-kv", seq(ref(b.rule("string")), ":", ref(value)));
            int more = b.rule(id + "-free-more");
            b.define(id + "-free-more", seq(), seq(",", ref(kv), ref(more)));
            free = b.define(id + "-free", seq(), seq(ref(kv), ref(more)));
            b.define(id + "-free-after", seq(), seq(",", ref(kv), ref(more)));
        }
        // rest(i, comma): properties i.. in order, each optional one possibly left out; comma: one came before
        int[][] rest = new int[entries.size() + 1][2];
        for (int i = entries.size(); i >= 0; i--) {
            var e = i < entries.size() ? entries.get(i) : null;
            int value = e == null ? -1 : schema(e.getValue(), where + "/properties/" + e.getKey());
            for (int c = 0; c < 2; c++) {
                String name = id + "-" + i + "-" + c;
                if (e == null) {
                    rest[i][c] = free < 0
                            ? b.define(name, seq())
                            : b.define(name, seq(ref(c == 1 ? b.rule(id + "-free-after") : free)));
                    continue;
                }
                List<Element> present =
                        seq(c == 1 ? "," : "", quoted(e.getKey()), ":", ref(value), ref(rest[i + 1][1]));
                rest[i][c] = required.contains(e.getKey())
                        ? b.define(name, present)
                        : b.define(name, present, seq(ref(rest[i + 1][c])));
            }
        }
        return b.define(id, seq("{", ref(rest[0][0]), "}"));
    }

    private int array(JsonNode s, String where) {
        int item = s.has("items") ? schema(s.get("items"), where + "/items") : b.rule("value");
        int min = s.path("minItems").asInt(0);
        Integer max = s.has("maxItems") ? s.get("maxItems").asInt() : null;
        if (max != null && max < min) throw unsupported(where, "maxItems < minItems allows no array");
        if (min > MAX_BOUND || (max != null && max > MAX_BOUND)) {
            throw unsupported(where, "minItems/maxItems above " + MAX_BOUND + " are not supported");
        }
        String id = fresh("array");
        int tail = repeat(id, seq(",", ref(item)), Math.max(0, min - 1), max == null ? null : Math.max(0, max - 1));
        List<List<Element>> alts = new ArrayList<>();
        if (min == 0) alts.add(seq("[]"));
        if (max == null || max > 0) alts.add(seq("[", ref(item), ref(tail), "]"));
        if (alts.isEmpty()) alts.add(seq("[]"));
        return b.define(id, alts);
    }

    private int string(JsonNode s, String where) {
        int min = s.path("minLength").asInt(0);
        Integer max = s.has("maxLength") ? s.get("maxLength").asInt() : null;
        if (min == 0 && max == null) return b.rule("string");
        if (max != null && max < min) throw unsupported(where, "maxLength < minLength allows no string");
        if (min > MAX_BOUND || (max != null && max > MAX_BOUND)) {
            throw unsupported(where, "minLength/maxLength above " + MAX_BOUND + " are not supported");
        }
        String id = fresh("string");
        int chars = repeat(id, seq(ref(b.rule("char"))), min, max);
        return b.define(id, seq("\"", ref(chars), "\""));
    }

    /** {@code unit} repeated min to max times (max null: no limit), as a rule. */
    private int repeat(String id, List<Element> unit, int min, Integer max) {
        int tail;
        if (max == null) {
            tail = b.rule(id + "-more");
            List<Element> again = new ArrayList<>(unit);
            again.add(ref(tail));
            b.define(id + "-more", seq(), again);
        } else {
            tail = b.define(id + "-opt-0", seq());
            for (int k = 1; k <= max - min; k++) {
                List<Element> again = new ArrayList<>(unit);
                again.add(ref(tail));
                tail = b.define(id + "-opt-" + k, seq(), again);
            }
        }
        List<Element> all = new ArrayList<>();
        for (int k = 0; k < min; k++) all.addAll(unit);
        all.add(ref(tail));
        return b.define(id + "-rep", all);
    }

    private int reference(String ref, String where) {
        String name;
        if (ref.startsWith("#/$defs/")) name = ref.substring("#/$defs/".length());
        else if (ref.startsWith("#/definitions/")) name = ref.substring("#/definitions/".length());
        else if (ref.equals("#")) name = null;
        else throw unsupported(where, "'$ref' '" + ref + "' (only #, #/$defs/... and #/definitions/... are resolved)");
        String rule = "ref:" + ref;
        if (b.defined(rule) || pending.contains(rule)) return b.rule(rule);
        JsonNode target = name == null
                ? rootSchema
                : rootSchema
                        .path(ref.startsWith("#/$defs/") ? "$defs" : "definitions")
                        .get(name);
        if (target == null) throw new IllegalArgumentException(where + ": '$ref' '" + ref + "' points nowhere");
        pending.add(rule);
        int id = b.rule(rule);
        int body = schema(target, ref);
        b.define(rule, seq(ref(body)));
        pending.remove(rule);
        return id;
    }

    private int literals(List<JsonNode> values) {
        List<List<Element>> alts = new ArrayList<>();
        for (JsonNode v : values) {
            try {
                alts.add(seq(JSON.writeValueAsString(v)));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
        return b.define(fresh("literal"), alts);
    }

    private static String quoted(String key) {
        try {
            return JSON.writeValueAsString(key);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private String fresh(String kind) {
        return kind + "#" + next++;
    }

    private static IllegalArgumentException unsupported(String where, String what) {
        return new IllegalArgumentException("the JSON schema at " + where + ": " + what);
    }
}
