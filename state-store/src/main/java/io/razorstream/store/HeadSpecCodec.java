package io.razorstream.store;

import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.WindowParams;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.RecordComponent;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A cache policy in the metadata record, written from the specs' own record components, so that any {@link HeadSpec}
 * record (a new policy's included) round-trips without an edit here.
 *
 * <p>Layout (store format 4, {@link #encode}): layers u16 | KV heads u16 | n u32, the distinct specs | n specs | per
 * head, layer-major, the index of its spec: u8 when n &lt;= 256, else u16 (the metadata is written every turn: a policy
 * of few kinds takes about one byte a head). A spec is its kind (a string) | its components' byte count u16 | its
 * record components in declaration order: boolean u8 (0 or 1), byte, short, char, int, long, float, double
 * (little-endian; floats and doubles by their bits), String (u16 byte count + UTF-8), an enum by its constant's name (a
 * String), a nested record (such as {@link WindowParams}) by its own components, inline. The kind is the spec class's
 * simple name when the class is a record nested in {@link HeadSpec} (Full, Window, ...: they stay readable across
 * package renames), else its binary name. A component of another type, or null, is refused when writing.
 *
 * <p>Reading resolves a kind to a class without initialising it and accepts only a record implementing HeadSpec; it
 * reads the components by the record's declared types and calls its canonical constructor (so the spec's own checks
 * run). An unknown kind, a class that is not a HeadSpec record, components that do not fill their byte count, an index
 * out of range or truncated bytes fail with an IllegalArgumentException that says which.
 *
 * <p>Store format 3 (read only, {@link #decodeLegacy}): layers u16, KV heads u16, then per head a kind byte and its
 * parameters (FULL: none; WINDOW: sinks, min window, compression i32, compensate u8; CAPPED_WINDOW: the same, then the
 * max window i32; H2O: budget, recent i32; SnapKV: budget, window, observe i32; MASKED: none).
 */
final class HeadSpecCodec {
    private static final byte FULL = 0, WINDOW = 1, HEAVY_HITTERS = 2, SNAP = 3, CAPPED_WINDOW = 4, MASKED = 5;
    /** Nested records deeper than this are refused (a record type that contains itself would never end). */
    private static final int MAX_DEPTH = 8;

    private static final int U16 = 0xFFFF;

    private HeadSpecCodec() {}

    /** The policy's bytes in the current layout. */
    static byte[] encode(KvPolicy policy) {
        Map<HeadSpec, Integer> index = new LinkedHashMap<>();
        for (int l = 0; l < policy.layers(); l++)
            for (int h = 0; h < policy.kvHeads(); h++) index.putIfAbsent(policy.spec(l, h), index.size());
        List<byte[]> specs = new ArrayList<>(index.size());
        int size = 2 + 2 + 4;
        for (HeadSpec spec : index.keySet()) {
            byte[] bytes = encodeSpec(spec);
            specs.add(bytes);
            size += bytes.length;
        }
        int width = indexWidth(index.size());
        size += policy.layers() * policy.kvHeads() * width;
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) policy.layers()).putShort((short) policy.kvHeads()).putInt(specs.size());
        for (byte[] spec : specs) b.put(spec);
        for (int l = 0; l < policy.layers(); l++) {
            for (int h = 0; h < policy.kvHeads(); h++) {
                int i = index.get(policy.spec(l, h));
                if (width == 1) b.put((byte) i);
                else b.putShort((short) i);
            }
        }
        return b.array();
    }

    private static int indexWidth(int specs) {
        return specs <= 256 ? 1 : 2;
    }

    /** One spec: its kind, its components' byte count, its components. */
    static byte[] encodeSpec(HeadSpec spec) {
        Class<?> c = spec.getClass();
        if (!c.isRecord())
            throw new IllegalArgumentException("head spec " + c.getName()
                    + " is not a record: the store writes a spec from its record components");
        ByteBuffer components = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);
        components = putRecord(components, spec, kind(c), 0);
        if (components.position() > U16)
            throw new IllegalArgumentException(
                    "head spec " + kind(c) + " has " + components.position() + " bytes of components, at most " + U16);
        byte[] kind = kind(c).getBytes(StandardCharsets.UTF_8);
        if (kind.length > U16) throw new IllegalArgumentException("head spec kind of " + kind.length + " bytes");
        ByteBuffer out =
                ByteBuffer.allocate(2 + kind.length + 2 + components.position()).order(ByteOrder.LITTLE_ENDIAN);
        out.putShort((short) kind.length)
                .put(kind)
                .putShort((short) components.position())
                .put(components.flip());
        return out.array();
    }

    /** The kind a spec class is stored under. */
    static String kind(Class<?> c) {
        return c.getEnclosingClass() == HeadSpec.class ? c.getSimpleName() : c.getName();
    }

    /** The policy in the current layout; an IllegalArgumentException says what is wrong with bytes that are not one. */
    static KvPolicy decode(ByteBuffer b) {
        try {
            int layers = Short.toUnsignedInt(b.getShort()), kvHeads = Short.toUnsignedInt(b.getShort());
            long n = Integer.toUnsignedLong(b.getInt());
            if (layers == 0 || kvHeads == 0 || n == 0 || n > (long) layers * kvHeads) {
                throw new IllegalArgumentException(
                        n + " distinct head specs for " + layers + " x " + kvHeads + " heads");
            }
            HeadSpec[] specs = new HeadSpec[(int) n];
            for (int i = 0; i < n; i++) specs[i] = decodeSpec(b);
            int width = indexWidth((int) n);
            HeadSpec[][] heads = new HeadSpec[layers][kvHeads];
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < kvHeads; h++) {
                    int i = width == 1 ? Byte.toUnsignedInt(b.get()) : Short.toUnsignedInt(b.getShort());
                    if (i >= n)
                        throw new IllegalArgumentException(
                                "layer " + l + ", KV head " + h + " names head spec " + i + " of " + n);
                    heads[l][h] = specs[i];
                }
            }
            return new KvPolicy(heads);
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("the policy is truncated");
        }
    }

    /** One spec as {@link #encodeSpec} wrote it. */
    static HeadSpec decodeSpec(ByteBuffer b) {
        String kind = getString(b);
        int length = Short.toUnsignedInt(b.getShort());
        if (length > b.remaining())
            throw new IllegalArgumentException(
                    "head spec " + kind + ": " + length + " bytes of components, " + b.remaining() + " left");
        Class<?> c = specClass(kind);
        ByteBuffer components = b.slice(b.position(), length).order(ByteOrder.LITTLE_ENDIAN);
        b.position(b.position() + length);
        Object spec;
        try {
            spec = getRecord(components, c, kind, 0);
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("head spec " + kind + ": its " + length
                    + " bytes end before its record's components do (the record changed?)");
        }
        if (components.hasRemaining()) {
            throw new IllegalArgumentException("head spec " + kind + ": " + components.remaining() + " of its " + length
                    + " bytes left after its record's components (the record changed?)");
        }
        return (HeadSpec) spec;
    }

    /** The class of a stored kind: only a record implementing HeadSpec, found without running its initialisers. */
    private static Class<?> specClass(String kind) {
        Class<?> c = null;
        if (!kind.contains(".")) {
            for (Class<?> nested : HeadSpec.class.getDeclaredClasses())
                if (nested.getSimpleName().equals(kind)) c = nested;
            if (c == null)
                throw new IllegalArgumentException(
                        "unknown head spec kind '" + kind + "' (no such record in HeadSpec)");
        } else {
            ClassLoader loader = Thread.currentThread().getContextClassLoader();
            if (loader == null) loader = HeadSpec.class.getClassLoader();
            try {
                c = Class.forName(kind, false, loader);
            } catch (ClassNotFoundException | LinkageError e) {
                throw new IllegalArgumentException("unknown head spec kind '" + kind + "' (no such class here)");
            }
        }
        if (!HeadSpec.class.isAssignableFrom(c) || !c.isRecord()) {
            throw new IllegalArgumentException(
                    "head spec kind '" + kind + "' is not a record implementing HeadSpec: refused");
        }
        return c;
    }

    private static ByteBuffer putRecord(ByteBuffer b, Object record, String kind, int depth) {
        if (depth > MAX_DEPTH)
            throw new IllegalArgumentException("head spec " + kind + ": records nested deeper than " + MAX_DEPTH);
        for (RecordComponent rc : record.getClass().getRecordComponents()) {
            Object value;
            try {
                Method accessor = rc.getAccessor();
                accessor.setAccessible(true);
                value = accessor.invoke(record);
            } catch (IllegalAccessException | InvocationTargetException e) {
                throw new IllegalArgumentException(
                        "head spec " + kind + ": cannot read component " + rc.getName() + " (" + e + ")");
            }
            if (value == null)
                throw new IllegalArgumentException("head spec " + kind + ": component " + rc.getName() + " is null");
            b = putValue(b, rc.getType(), value, kind + "." + rc.getName(), depth);
        }
        return b;
    }

    private static ByteBuffer putValue(ByteBuffer b, Class<?> type, Object value, String where, int depth) {
        if (type == boolean.class) return room(b, 1).put((byte) ((Boolean) value ? 1 : 0));
        if (type == byte.class) return room(b, 1).put((Byte) value);
        if (type == short.class) return room(b, 2).putShort((Short) value);
        if (type == char.class) return room(b, 2).putChar((Character) value);
        if (type == int.class) return room(b, 4).putInt((Integer) value);
        if (type == long.class) return room(b, 8).putLong((Long) value);
        if (type == float.class) return room(b, 4).putFloat((Float) value);
        if (type == double.class) return room(b, 8).putDouble((Double) value);
        if (type == String.class) return putString(b, (String) value, where);
        if (type.isEnum()) return putString(b, ((Enum<?>) value).name(), where);
        if (type.isRecord()) return putRecord(b, value, where, depth + 1);
        throw new IllegalArgumentException("head spec component " + where + " is a " + type.getName()
                + ": the store writes primitives, strings, enums and records only");
    }

    private static Object getRecord(ByteBuffer b, Class<?> c, String kind, int depth) {
        if (depth > MAX_DEPTH)
            throw new IllegalArgumentException("head spec " + kind + ": records nested deeper than " + MAX_DEPTH);
        RecordComponent[] rcs = c.getRecordComponents();
        Class<?>[] types = new Class<?>[rcs.length];
        Object[] args = new Object[rcs.length];
        for (int i = 0; i < rcs.length; i++) {
            types[i] = rcs[i].getType();
            args[i] = getValue(b, types[i], kind + "." + rcs[i].getName(), depth);
        }
        try {
            Constructor<?> canonical = c.getDeclaredConstructor(types);
            canonical.setAccessible(true);
            return canonical.newInstance(args);
        } catch (InvocationTargetException e) {
            throw new IllegalArgumentException(
                    "head spec " + kind + ": its record refuses the stored components (" + e.getCause() + ")");
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalArgumentException("head spec " + kind + ": cannot make its record (" + e + ")");
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Object getValue(ByteBuffer b, Class<?> type, String where, int depth) {
        if (type == boolean.class) {
            byte v = b.get();
            if (v != 0 && v != 1)
                throw new IllegalArgumentException("head spec component " + where + ": boolean byte " + v);
            return v == 1;
        }
        if (type == byte.class) return b.get();
        if (type == short.class) return b.getShort();
        if (type == char.class) return b.getChar();
        if (type == int.class) return b.getInt();
        if (type == long.class) return b.getLong();
        if (type == float.class) return b.getFloat();
        if (type == double.class) return b.getDouble();
        if (type == String.class) return getString(b);
        if (type.isEnum()) {
            String name = getString(b);
            try {
                return Enum.valueOf((Class<? extends Enum>) type, name);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(
                        "head spec component " + where + ": " + type.getSimpleName() + " has no constant " + name);
            }
        }
        if (type.isRecord()) return getRecord(b, type, where, depth + 1);
        throw new IllegalArgumentException(
                "head spec component " + where + " is a " + type.getName() + ": not a type the store reads");
    }

    private static ByteBuffer room(ByteBuffer b, int bytes) {
        if (b.remaining() >= bytes) return b;
        return ByteBuffer.allocate(Math.max(2 * b.capacity(), b.position() + bytes))
                .order(ByteOrder.LITTLE_ENDIAN)
                .put(b.flip());
    }

    private static ByteBuffer putString(ByteBuffer b, String s, String where) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > U16)
            throw new IllegalArgumentException(
                    "head spec component " + where + ": a string of " + bytes.length + " bytes, at most " + U16);
        return room(b, 2 + bytes.length).putShort((short) bytes.length).put(bytes);
    }

    private static String getString(ByteBuffer b) {
        byte[] bytes = new byte[Short.toUnsignedInt(b.getShort())];
        b.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /**
     * The policy in store format 3's layout (per head a kind byte and its parameters), for sessions written before
     * format 4.
     */
    static KvPolicy decodeLegacy(ByteBuffer b) {
        HeadSpec[][] heads = new HeadSpec[Short.toUnsignedInt(b.getShort())][Short.toUnsignedInt(b.getShort())];
        for (HeadSpec[] row : heads) {
            for (int h = 0; h < row.length; h++) {
                byte kind = b.get();
                row[h] = switch (kind) {
                    case FULL -> HeadSpec.FULL;
                    case WINDOW ->
                        new HeadSpec.Window(new WindowParams(b.getInt(), b.getInt(), b.getInt(), b.get() == 1));
                    case CAPPED_WINDOW ->
                        new HeadSpec.Window(
                                new WindowParams(b.getInt(), b.getInt(), b.getInt(), b.get() == 1, b.getInt()));
                    case HEAVY_HITTERS -> new HeadSpec.HeavyHitters(b.getInt(), b.getInt());
                    case SNAP -> new HeadSpec.Snap(b.getInt(), b.getInt(), b.getInt());
                    case MASKED -> HeadSpec.MASKED;
                    default -> throw new IllegalArgumentException("unknown head kind " + kind);
                };
            }
        }
        return new KvPolicy(heads);
    }
}
