package io.razorstream.engine.gguf;

/** Metadata value types, with their on-disk codes (GGUF spec, versions 2 and 3). */
public enum GgufValueType {
    UINT8(0, 1),
    INT8(1, 1),
    UINT16(2, 2),
    INT16(3, 2),
    UINT32(4, 4),
    INT32(5, 4),
    FLOAT32(6, 4),
    BOOL(7, 1),
    STRING(8, 8),
    ARRAY(9, 12),
    UINT64(10, 8),
    INT64(11, 8),
    FLOAT64(12, 8);

    private final int code;
    /** Fewest bytes one value of this type takes on disk (a string: its length field; an array: type + count). */
    private final int minBytes;

    GgufValueType(int code, int minBytes) {
        this.code = code;
        this.minBytes = minBytes;
    }

    public int code() {
        return code;
    }

    int minBytes() {
        return minBytes;
    }

    public static GgufValueType fromCode(int code) {
        for (GgufValueType t : values()) {
            if (t.code == code) return t;
        }
        return null;
    }
}
