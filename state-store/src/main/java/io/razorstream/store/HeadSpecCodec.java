package io.razorstream.store;

import io.razorstream.engine.attention.HeadSpec;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.WindowParams;

import java.nio.ByteBuffer;

/**
 * A cache policy in the metadata record: layers u16, KV heads u16, then per head a kind byte and its parameters
 * (FULL: none; WINDOW: sinks, min window, compression i32, compensate u8; CAPPED_WINDOW: the same, then the max
 * window i32 (a shifted session's); H2O: budget, recent i32; SnapKV: budget, window, observe i32; MASKED: none). Equal specs are
 * written again per head: the grid stays simple to read.
 */
final class HeadSpecCodec {
    private static final byte FULL = 0, WINDOW = 1, HEAVY_HITTERS = 2, SNAP = 3, CAPPED_WINDOW = 4, MASKED = 5;

    private HeadSpecCodec() {}

    static int bytes(KvPolicy policy) {
        return 4 + policy.layers() * policy.kvHeads() * 18;
    }

    static void encode(KvPolicy policy, ByteBuffer b) {
        b.putShort((short) policy.layers()).putShort((short) policy.kvHeads());
        for (int l = 0; l < policy.layers(); l++) {
            for (int h = 0; h < policy.kvHeads(); h++) {
                switch (policy.spec(l, h)) {
                    case HeadSpec.Full f -> b.put(FULL);
                    case HeadSpec.Window w -> {
                        WindowParams p = w.params();
                        b.put(p.capped() ? CAPPED_WINDOW : WINDOW).putInt(p.sinks()).putInt(p.minWindow()).putInt(p.compression())
                                .put((byte) (p.compensate() ? 1 : 0));
                        if (p.capped()) b.putInt(p.maxWindow());
                    }
                    case HeadSpec.HeavyHitters hh -> b.put(HEAVY_HITTERS).putInt(hh.budget()).putInt(hh.recent());
                    case HeadSpec.Snap s -> b.put(SNAP).putInt(s.budget()).putInt(s.window()).putInt(s.observe());
                    case HeadSpec.Masked m -> b.put(MASKED);
                    case HeadSpec.Gated g -> throw new IllegalArgumentException("a gated head (DuoAttention profiling) is not stored");
                }
            }
        }
    }

    static KvPolicy decode(ByteBuffer b) {
        HeadSpec[][] heads = new HeadSpec[Short.toUnsignedInt(b.getShort())][Short.toUnsignedInt(b.getShort())];
        for (HeadSpec[] row : heads) {
            for (int h = 0; h < row.length; h++) {
                byte kind = b.get();
                row[h] = switch (kind) {
                    case FULL -> HeadSpec.FULL;
                    case WINDOW -> new HeadSpec.Window(new WindowParams(b.getInt(), b.getInt(), b.getInt(), b.get() == 1));
                    case CAPPED_WINDOW -> new HeadSpec.Window(new WindowParams(b.getInt(), b.getInt(), b.getInt(), b.get() == 1, b.getInt()));
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
