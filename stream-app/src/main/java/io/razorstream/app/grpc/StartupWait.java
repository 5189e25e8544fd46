package io.razorstream.app.grpc;

import org.apache.kafka.streams.KafkaStreams;

import java.time.Duration;
import java.util.function.Supplier;

/**
 * The ports open before Kafka Streams has its tasks (and their session stores) running. A call that needs a store waits
 * for that, a bounded while, instead of failing at once with UNAVAILABLE: a client started with the service (a test, a
 * chatbot back end) gets its answer a moment later. A service that is not on its way to running (failed, closing) does
 * not make anyone wait.
 */
final class StartupWait {
    /**
     * How long a call waits for the stores: longer than a start-up or a rebalance takes, short of a client's patience.
     */
    static final Duration BOUND = Duration.ofSeconds(30);

    private static final long POLL_MILLIS = 25;

    private StartupWait() {}

    /** Waits until {@code state} is RUNNING, at most {@code bound}; whether it is. */
    static boolean awaitRunning(Supplier<KafkaStreams.State> state, Duration bound) {
        long deadline = System.nanoTime() + bound.toNanos();
        while (true) {
            KafkaStreams.State s = state.get();
            if (s == KafkaStreams.State.RUNNING) return true;
            boolean underWay = s == KafkaStreams.State.CREATED || s == KafkaStreams.State.REBALANCING;
            // a caller that gave up (its deadline, a cancel) is not waited for either
            if (!underWay
                    || System.nanoTime() >= deadline
                    || io.grpc.Context.current().isCancelled()) return false;
            try {
                Thread.sleep(POLL_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }
}
