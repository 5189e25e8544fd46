package io.razorstream.app;

import io.grpc.ManagedChannel;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.SessionInfo;
import io.razorstream.proto.v1.Turn;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;

import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static io.razorstream.app.Services.KEY;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The same flow against a Kafka broker in a container (the image production-like setups use). Skipped where no Docker
 * daemon runs (as on the development machines); the embedded-broker tests cover the flows there.
 */
@Testcontainers(disabledWithoutDocker = true)
class ContainerBrokerTest {
    @Container
    static final KafkaContainer KAFKA =
            new KafkaContainer("apache/kafka:4.1.0").withEnv("KAFKA_TRANSACTION_MAX_TIMEOUT_MS", "900000");

    @Test
    void aPlantedKeyIsRetrievedThroughAContainerBroker(@TempDir Path dir) throws Exception {
        RazorService service = Services.start(dir, KAFKA.getBootstrapServers(), "containers");
        ManagedChannel channel = Services.channel(service);
        try {
            var stub = MemoryServiceGrpc.newBlockingStub(channel);
            Random r = new Random(5);
            Services.chat(stub, "dora", "t0", "The code is #" + KEY + ". " + Services.filler(r, 150), 2);
            AppendTurnsRequest.Builder filler = AppendTurnsRequest.newBuilder().setSessionId("dora");
            for (int i = 0; i < 30; i++)
                filler.addTurns(Turn.newBuilder().setTurnId("f" + i).setText(Services.filler(r, 80)));
            assertThat(stub.appendTurns(filler.build()).getAppended()).isEqualTo(30);
            assertThat(Services.chat(stub, "dora", "q", " Remember the code #", 6)
                            .done()
                            .getText())
                    .startsWith(KEY);
            SessionInfo info = stub.getSession(
                    GetSessionRequest.newBuilder().setSessionId("dora").build());
            assertThat(info.getCache().getFullKvBytes())
                    .isGreaterThanOrEqualTo(3 * info.getCache().getKvBytes());
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            service.close();
        }
    }
}
