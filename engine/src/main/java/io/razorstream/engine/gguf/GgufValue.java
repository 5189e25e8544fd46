package io.razorstream.engine.gguf;

import java.util.ArrayList;
import java.util.List;

/**
 * One typed metadata value. Unsigned integers are held in the signed Java type of the same width ({@link #asLong()}
 * widens them without sign); strings are Java strings; arrays are {@link GgufArray}.
 */
public record GgufValue(GgufValueType type, Object value) {

    public static GgufValue ofString(String s) {
        return new GgufValue(GgufValueType.STRING, s);
    }

    public static GgufValue ofUint32(int v) {
        return new GgufValue(GgufValueType.UINT32, v);
    }

    public static GgufValue ofInt32(int v) {
        return new GgufValue(GgufValueType.INT32, v);
    }

    public static GgufValue ofFloat32(float v) {
        return new GgufValue(GgufValueType.FLOAT32, v);
    }

    public static GgufValue ofBool(boolean v) {
        return new GgufValue(GgufValueType.BOOL, v);
    }

    public static GgufValue ofStrings(List<String> values) {
        List<GgufValue> list = new ArrayList<>(values.size());
        for (String s : values) list.add(ofString(s));
        return new GgufValue(GgufValueType.ARRAY, new GgufArray(GgufValueType.STRING, list));
    }

    public static GgufValue ofFloats(float[] values) {
        List<GgufValue> list = new ArrayList<>(values.length);
        for (float f : values) list.add(ofFloat32(f));
        return new GgufValue(GgufValueType.ARRAY, new GgufArray(GgufValueType.FLOAT32, list));
    }

    public static GgufValue ofInts(int[] values) {
        List<GgufValue> list = new ArrayList<>(values.length);
        for (int v : values) list.add(ofInt32(v));
        return new GgufValue(GgufValueType.ARRAY, new GgufArray(GgufValueType.INT32, list));
    }

    public boolean isInteger() {
        return switch (type) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /** Integer value, unsigned types widened without sign. */
    public long asLong() {
        return switch (type) {
            case UINT8 -> ((Byte) value) & 0xFFL;
            case UINT16 -> ((Short) value) & 0xFFFFL;
            case UINT32 -> ((Integer) value) & 0xFFFF_FFFFL;
            case INT8, INT16, INT32, INT64, UINT64 -> ((Number) value).longValue();
            case BOOL -> ((Boolean) value) ? 1 : 0;
            default -> throw new IllegalStateException("not an integer but " + type);
        };
    }

    public int asInt() {
        long v = asLong();
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new IllegalStateException("value " + v + " does not fit in an int");
        }
        return (int) v;
    }

    public double asDouble() {
        return switch (type) {
            case FLOAT32, FLOAT64 -> ((Number) value).doubleValue();
            default -> asLong();
        };
    }

    public float asFloat() {
        return (float) asDouble();
    }

    public boolean asBoolean() {
        if (type == GgufValueType.BOOL) return (Boolean) value;
        return asLong() != 0;
    }

    public String asString() {
        if (type != GgufValueType.STRING) throw new IllegalStateException("not a string but " + type);
        return (String) value;
    }

    public GgufArray asArray() {
        if (type != GgufValueType.ARRAY) throw new IllegalStateException("not an array but " + type);
        return (GgufArray) value;
    }

    /** Short human-readable form; long arrays are abbreviated. */
    public String describe(int maxElements) {
        if (type == GgufValueType.ARRAY) {
            GgufArray a = asArray();
            StringBuilder sb = new StringBuilder("[");
            int n = Math.min(a.size(), maxElements);
            for (int i = 0; i < n; i++) {
                if (i > 0) sb.append(", ");
                sb.append(a.get(i).describe(maxElements));
            }
            if (a.size() > n)
                sb.append(", ... (")
                        .append(a.size())
                        .append(" ")
                        .append(a.elementType())
                        .append(")");
            return sb.append("]").toString();
        }
        if (type == GgufValueType.STRING) return '"' + asString().replace("\n", "\\n") + '"';
        if (isInteger()) return Long.toUnsignedString(asLong());
        return String.valueOf(value);
    }
}
