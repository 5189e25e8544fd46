package io.razorstream.engine.model;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import io.razorstream.engine.kernel.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The scheduler hands a part's own failure to that part's caller only. A first pass is held open until three more
 * callers wait, so the next pass surely takes all three; that pass fails the middle part.
 */
class PassSchedulerTest {
    @TempDir
    static Path dir;

    @Test
    void aPartsFailureReachesOnlyItsCaller() throws Exception {
        Path file = dir.resolve("tiny.gguf");
        RandomModel.write(ModelShape.TINY, GgmlType.Q8_0, 3, file);
        KvCache cache;
        try (LoadedModel loaded = LoadedModel.open(file)) {
            cache = loaded.model()
                    .newCache(
                            16,
                            KvPrecision.F16); // the fake pass never touches it; the scheduler asks it for an observer
        }
        CountDownLatch queued = new CountDownLatch(1);
        AtomicInteger passes = new AtomicInteger();
        List<Integer> sizes = new ArrayList<>();
        PassScheduler scheduler = new PassScheduler((parts, parallel) -> {
            if (passes.getAndIncrement() == 0) {
                try {
                    assertThat(queued.await(30, TimeUnit.SECONDS)).isTrue();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                return;
            }
            synchronized (sizes) {
                sizes.add(parts.size());
            }
            for (PassScheduler.Work w : parts) if (w.from == 1) w.fail(new IllegalStateException("part 1 failed"));
        });
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            Future<?> first = pool.submit(() -> scheduler.submit(work(cache, 9)));
            while (passes.get() == 0) Thread.sleep(1);
            List<Future<?>> three = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                int from = i;
                three.add(pool.submit(() -> scheduler.submit(work(cache, from))));
            }
            Thread.sleep(200); // all three wait behind the first pass
            queued.countDown();
            first.get(30, TimeUnit.SECONDS);
            three.get(0).get(30, TimeUnit.SECONDS);
            three.get(2).get(30, TimeUnit.SECONDS);
            assertThatThrownBy(() -> three.get(1).get(30, TimeUnit.SECONDS)).hasRootCauseMessage("part 1 failed");
            assertThat(sizes).as("the three shared one pass").containsExactly(3);
        } finally {
            pool.shutdownNow();
        }
    }

    /** A one-row work item; {@code from} tells the parts apart (the fake pass reads no cache). */
    private static PassScheduler.Work work(KvCache cache, int from) {
        return new PassScheduler.Work().set(cache, new int[16], from, 1, new float[1][1], null);
    }
}
