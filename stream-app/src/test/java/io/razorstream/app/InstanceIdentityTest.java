package io.razorstream.app;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The instance's identity survives restarts and a lost state directory; bad ids are refused by name. */
class InstanceIdentityTest {
    @Test
    void madeOnceKeptInTheDataDirAndTheProcessIdFollowsFromIt(@TempDir Path dir) throws Exception {
        InstanceIdentity first = InstanceIdentity.resolve("", dir, "app");
        InstanceIdentity again = InstanceIdentity.resolve("", dir, "app");
        assertThat(again).isEqualTo(first);
        assertThat(Files.readString(dir.resolve("instance.id")).trim()).isEqualTo(first.instanceId());
        assertThat(InstanceIdentity.resolve("", dir, "other-app").processId())
                .as("per application")
                .isNotEqualTo(first.processId());

        Path state = dir.resolve("streams");
        first.pinStreamsProcessId(state, "app");
        Path file = state.resolve("app").resolve(InstanceIdentity.STREAMS_PROCESS_FILE);
        assertThat(Files.readString(file)).isEqualTo("{\"processId\":\"" + first.processId() + "\"}");
        // The state directory is lost: the same process id is written again, so the transactional id stays the same.
        Files.delete(file);
        InstanceIdentity.resolve("", dir, "app").pinStreamsProcessId(state, "app");
        assertThat(Files.readString(file)).contains(first.processId().toString());
    }

    @Test
    void aConfiguredIdWinsAndBadOnesAreRefused(@TempDir Path dir) throws Exception {
        assertThat(InstanceIdentity.resolve("pod-3", dir, "app").instanceId()).isEqualTo("pod-3");
        assertThat(Files.exists(dir.resolve("instance.id"))).isFalse();
        assertThat(InstanceIdentity.resolve("pod-3", dir, "app").processId())
                .isNotEqualTo(InstanceIdentity.resolve("pod-4", dir, "app").processId());
        assertThatThrownBy(() -> InstanceIdentity.resolve("has space", dir, "app"))
                .hasMessageContaining("instance id 'has space'");
        Files.writeString(dir.resolve("instance.id"), "\n");
        assertThatThrownBy(() -> InstanceIdentity.resolve("", dir, "app"))
                .hasMessageContaining(dir.resolve("instance.id").toString());
    }
}
