package io.razorstream.app;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

/**
 * Who this instance is to Kafka, kept stable across restarts so that a restart is quick:
 *
 * <ul>
 *   <li>the instance id is the consumer group's static member id ({@code group.instance.id}): a restarted instance
 *       takes its partitions back at once instead of waiting out the dead member's session timeout;
 *   <li>Kafka Streams' process id (and with it the exactly-once producer's transactional id) is derived from it, so a
 *       restarted instance fences its own unfinished transaction even when its state directory was lost (a new id could
 *       not, and its partitions would stay blocked for the transaction timeout).
 * </ul>
 *
 * The id comes from the {@code instance.id} setting (clusters: one per instance, e.g. the pod name) or is made on first
 * start and kept in {@code DATA_DIR/instance.id}.
 */
record InstanceIdentity(String instanceId, UUID processId) {
    /** Kafka Streams keeps its process id in this file of {@code STATE_DIR/APPLICATION_ID}. */
    static final String STREAMS_PROCESS_FILE = "kafka-streams-process-metadata";

    static InstanceIdentity resolve(String configured, Path dataDir, String applicationId) throws IOException {
        String id = configured;
        if (id.isEmpty()) {
            Path file = dataDir.resolve("instance.id");
            if (Files.exists(file)) {
                id = Files.readString(file, StandardCharsets.UTF_8).trim();
                if (id.isEmpty())
                    throw new IOException(file + " is empty; delete it (a new instance id is made) or set instance.id");
            } else {
                id = "razorstream-" + UUID.randomUUID().toString().substring(0, 8);
                Files.writeString(file, id + "\n", StandardCharsets.UTF_8);
            }
        }
        if (!id.matches("[A-Za-z0-9._-]{1,200}")) {
            throw new IllegalArgumentException(
                    "instance id '" + id + "' must be 1-200 characters of A-Z a-z 0-9 . _ -");
        }
        return new InstanceIdentity(
                id, UUID.nameUUIDFromBytes((applicationId + "/" + id).getBytes(StandardCharsets.UTF_8)));
    }

    /** Writes the process id where Kafka Streams reads it at start (it makes a random one when the file is missing). */
    void pinStreamsProcessId(Path stateDir, String applicationId) throws IOException {
        Path dir = stateDir.resolve(applicationId);
        Files.createDirectories(dir);
        Files.writeString(
                dir.resolve(STREAMS_PROCESS_FILE), "{\"processId\":\"" + processId + "\"}", StandardCharsets.UTF_8);
    }
}
