package io.razorstream.app.turn;

import io.razorstream.engine.grammar.Grammar;
import io.razorstream.engine.grammar.JsonGrammar;
import io.razorstream.proto.v1.GenerationParams;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The grammar a turn's {@code json_object} / {@code json_schema} asks for (null: free text). Compiled schemas are kept,
 * a few dozen, since agents send the same schema turn after turn.
 */
public final class ResponseFormats {
    private static final int CACHED = 64;
    private static final Grammar ANY_OBJECT = JsonGrammar.anyObject();
    private static final Map<String, Grammar> SCHEMAS = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Grammar> e) {
            return size() > CACHED;
        }
    };

    private ResponseFormats() {}

    /** The grammar for {@code p}'s format; IllegalArgumentException for a schema the grammar cannot express. */
    public static Grammar grammar(GenerationParams p) {
        return switch (p.getFormatCase()) {
            case JSON_OBJECT -> p.getJsonObject() ? ANY_OBJECT : null;
            case JSON_SCHEMA -> {
                synchronized (SCHEMAS) {
                    Grammar g = SCHEMAS.get(p.getJsonSchema());
                    if (g == null) SCHEMAS.put(p.getJsonSchema(), g = JsonGrammar.of(p.getJsonSchema()));
                    yield g;
                }
            }
            case FORMAT_NOT_SET -> null;
        };
    }
}
