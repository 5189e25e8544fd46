package io.razorstream.engine.bench;

import io.razorstream.engine.kernel.Parallel;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Measures how fast this machine streams memory into the cores (bytes/s), the bound on decode speed: every decoded
 * token reads every weight once. Reads a buffer much larger than the caches with the given threads and keeps the best
 * of several passes.
 */
public final class MemoryBandwidth {
    private static final VectorSpecies<Long> LONGS = LongVector.SPECIES_PREFERRED;

    private MemoryBandwidth() {}

    public static double bytesPerSecond(Parallel parallel, long bufferBytes, int passes) {
        try (Arena arena = Arena.ofShared()) {
            long size = bufferBytes / 4096 * 4096;
            MemorySegment buf = arena.allocate(size, 4096);
            buf.fill((byte) 1); // touch every page so that the reads below hit memory, not page faults
            AtomicLong sink = new AtomicLong();
            int chunks = (int) (size / 4096);
            double best = 0;
            for (int p = 0; p < passes; p++) {
                long t0 = System.nanoTime();
                parallel.forRange(chunks, (from, to) -> {
                    LongVector acc = LongVector.zero(LONGS);
                    int step = LONGS.vectorByteSize();
                    for (long off = (long) from * 4096; off < (long) to * 4096; off += step) {
                        acc = acc.add(LongVector.fromMemorySegment(LONGS, buf, off, ByteOrder.LITTLE_ENDIAN));
                    }
                    sink.addAndGet(acc.reduceLanes(VectorOperators.ADD));
                });
                long t1 = System.nanoTime();
                best = Math.max(best, size / ((t1 - t0) / 1e9));
            }
            if (sink.get() == 42) System.out.print(""); // keep the reads alive
            return best;
        }
    }
}
