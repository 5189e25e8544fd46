package io.razorstream.app.grpc;

import org.apache.kafka.streams.KafkaStreams.State;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A call made while the service starts waits for its stores; one made to a failed service does not wait. */
class StartupWaitTest {
    @Test
    void waitsWhileStartingOrRebalancingUntilRunning() {
        var states = new ArrayDeque<>(List.of(State.CREATED, State.REBALANCING, State.REBALANCING, State.RUNNING));
        assertThat(StartupWait.awaitRunning(states::poll, Duration.ofSeconds(10)))
                .isTrue();
        assertThat(states).isEmpty();
    }

    @Test
    void givesUpAfterTheBound() {
        long t0 = System.nanoTime();
        assertThat(StartupWait.awaitRunning(() -> State.REBALANCING, Duration.ofMillis(200)))
                .isFalse();
        assertThat(System.nanoTime() - t0)
                .isGreaterThanOrEqualTo(Duration.ofMillis(200).toNanos());
    }

    @Test
    void aServiceThatIsNotOnItsWayToRunningIsNotWaitedFor() {
        for (State s : new State[] {State.ERROR, State.PENDING_SHUTDOWN, State.NOT_RUNNING, State.PENDING_ERROR}) {
            int[] polls = {0};
            assertThat(StartupWait.awaitRunning(
                            () -> {
                                polls[0]++;
                                return s;
                            },
                            Duration.ofSeconds(10)))
                    .isFalse();
            assertThat(polls[0]).as(s.name()).isEqualTo(1);
        }
    }
}
