package io.razorstream.app.broker;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The embedded broker keeps its data across restarts, takes over a broker orphaned by a killed service, and names a
 * port conflict and a failed format.
 */
class EmbeddedBrokerTest {
    @Test
    void restartsOnItsDataAndTakesOverAnOrphan(@TempDir Path dir) throws Exception {
        EmbeddedBroker first = EmbeddedBroker.start(dir, Duration.ofSeconds(90));
        String bootstrap = first.bootstrapServers();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            admin.createTopics(List.of(new NewTopic("kept", 1, (short) 1)))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        }
        long orphanPid =
                Long.parseLong(Files.readString(dir.resolve("broker.pid")).trim());
        // The service that started `first` "dies" without closing it: the next start takes the orphan over.
        try (EmbeddedBroker second = EmbeddedBroker.start(dir, Duration.ofSeconds(90))) {
            assertThat(Files.readString(dir.resolve("broker.pid")).trim())
                    .as("the orphan is the broker now")
                    .isEqualTo(String.valueOf(orphanPid));
            assertThat(second.bootstrapServers()).isEqualTo(bootstrap); // same ports, same data
            try (Admin admin =
                    Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, second.bootstrapServers()))) {
                assertThat(admin.listTopics().names().get(30, TimeUnit.SECONDS)).contains("kept");
            }
        } finally {
            first.close();
        }
        assertThat(ProcessHandle.of(orphanPid).map(ProcessHandle::isAlive).orElse(false))
                .as("closing stops it")
                .isFalse();
    }

    @Test
    void aPortHeldByAnotherProgramFailsTheStartClearly(@TempDir Path dir) throws Exception {
        try (ServerSocket squatter = new ServerSocket(0)) {
            Files.writeString(
                    dir.resolve("ports.properties"),
                    "broker=" + squatter.getLocalPort() + "\ncontroller=" + freePort() + "\n");
            assertThatThrownBy(() -> EmbeddedBroker.start(dir, Duration.ofSeconds(30)))
                    .hasMessageContaining("already in use")
                    .hasMessageContaining(String.valueOf(squatter.getLocalPort()));
        }
    }

    @Test
    void aFailedFormatIsRetriedThenNamedWithTheToolsOwnWords(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("logs"), "a file where the broker's log directory belongs");
        assertThatThrownBy(() -> EmbeddedBroker.start(dir, Duration.ofSeconds(30)))
                .hasMessageContaining(
                        "formatting the embedded broker's storage in " + dir.resolve("logs") + " failed (exit code 1")
                .hasMessageContaining("its output: ");
        String log = Files.readString(dir.resolve("broker.log"));
        String toolError = "Error while reading meta.properties";
        assertThat(log.indexOf(toolError))
                .as("tried twice: %s", log)
                .isNotNegative()
                .isNotEqualTo(log.lastIndexOf(toolError));
        assertThat(Files.readString(dir.resolve("logs"))).as("nothing deleted").startsWith("a file where");
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
