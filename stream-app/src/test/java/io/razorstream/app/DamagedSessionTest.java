package io.razorstream.app;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.razorstream.proto.v1.DeleteSessionRequest;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One damaged session never stops the service. A session whose local record is corrupt gets DATA_LOSS, a dead letter,
 * and is rebuilt from the changelog (its next turn works); a session whose changelog holds the damage too stays broken
 * (DATA_LOSS) until deleted; every other session is served throughout.
 */
class DamagedSessionTest {
    /** Not a valid record: the right magic, then garbage (the checksum cannot match). */
    static final byte[] GARBAGE = "RZ\u0002\u0001garbage-garbage-garbage".getBytes(StandardCharsets.ISO_8859_1);

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void aDamagedSessionIsQuarantinedAndTheOthersAreServed(@TempDir Path dataDir) throws Exception {
        String hurt = pick("hurt", -1, -1), broken = pick("broken", ReliabilityTest.javaPartition(hurt), -1);
        String fine = pick("fine", ReliabilityTest.javaPartition(hurt), ReliabilityTest.javaPartition(broken));
        long hurtTokens;
        RazorService service = Services.start(dataDir, null, "razorstream");
        try {
            ManagedChannel channel = Services.channel(service);
            var stub = MemoryServiceGrpc.newBlockingStub(channel).withDeadlineAfter(3, TimeUnit.MINUTES);
            hurtTokens = Services.chat(stub, hurt, "h1", "The code is #K7Q2. Remember the code #", 4)
                    .done()
                    .getCache()
                    .getTokens();
            Services.chat(stub, broken, "b1", "Some history. ", 2);
            Services.chat(stub, fine, "f1", "Fine history. ", 2);
            // The changelog gets a bad record for 'broken' (as if a bad write had been committed), after b1's own
            // writes: those commit with b1's reply, so wait until that reply is visible to read_committed readers.
            awaitCommittedReply(service, broken, "b1");
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                    Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, service.bootstrapServers()),
                    new ByteArraySerializer(),
                    new ByteArraySerializer())) {
                p.send(new ProducerRecord<>(
                                "razorstream-sessions-changelog",
                                ReliabilityTest.javaPartition(broken),
                                metaKey(broken),
                                GARBAGE))
                        .get();
            }
            channel.shutdownNow();
        } finally {
            service.close();
        }
        // Local damage for 'hurt' (the changelog is intact); 'broken''s task is restored from its changelog.
        corruptLocally(taskStore(dataDir, ReliabilityTest.javaPartition(hurt)), metaKey(hurt));
        Services.deleteTree(taskStore(dataDir, ReliabilityTest.javaPartition(broken))
                .getParent()
                .getParent());

        // Idle expiry looks at every session every second here: it must step over the damaged ones.
        service = Services.start(dataDir, null, "razorstream", Map.of("sessions.expiry-interval", "PT1S"));
        try {
            ManagedChannel channel = Services.channel(service);
            var stub = MemoryServiceGrpc.newBlockingStub(channel).withDeadlineAfter(3, TimeUnit.MINUTES);
            StatusRuntimeException e =
                    Services.failure(() -> Services.chat(stub, hurt, "h2", "Remember the code #", 4));
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DATA_LOSS);
            assertThat(e.getStatus().getDescription())
                    .contains("session '" + hurt + "'")
                    .contains("metadata")
                    .contains("rebuilt from its changelog");
            assertThat(Services.chat(stub, fine, "f2", "More. ", 2).done().getDuplicate())
                    .as("another session is served")
                    .isFalse();
            // Rebuilt from the changelog: the same turn again is applied on the session as it was.
            var again = Services.retry(() -> Services.chat(stub, hurt, "h2", "Remember the code #", 4));
            assertThat(again.done().getDuplicate()).isFalse();
            assertThat(again.done().getText()).isEqualTo("K7Q2");
            assertThat(again.done().getCache().getTokens()).isGreaterThan(hurtTokens);

            StatusRuntimeException b = Services.failure(() -> Services.chat(stub, broken, "b2", "Hello? ", 2));
            assertThat(b.getStatus().getCode()).isEqualTo(Status.Code.DATA_LOSS);
            StatusRuntimeException b2 = retryUntilBroken(() -> Services.chat(stub, broken, "b3", "Hello? ", 2));
            assertThat(b2.getStatus().getDescription())
                    .contains("session '" + broken + "'")
                    .contains("until it is deleted");
            assertThat(Services.chat(stub, fine, "f3", "Still fine. ", 2).done().getDuplicate())
                    .isFalse();
            assertThat(stub.deleteSession(DeleteSessionRequest.newBuilder()
                                    .setSessionId(broken)
                                    .build())
                            .getDeleted())
                    .isTrue();
            assertThat(Services.chat(stub, broken, "b4", "A new start. ", 2)
                            .done()
                            .getCache()
                            .getTokens())
                    .as("a deleted broken session starts afresh")
                    .isLessThan(20);
            assertThat(stub.getSession(GetSessionRequest.newBuilder()
                                    .setSessionId(fine)
                                    .build())
                            .getTurnsRemembered())
                    .isEqualTo(3);

            // A stream thread that died would have been replaced by one numbered past the two configured.
            assertThat(service.streams().metadataForLocalThreads())
                    .extracting(t -> t.threadName().replaceAll(".*-(StreamThread-\\d+)$", "$1"))
                    .as("no stream thread died of the damage")
                    .containsExactlyInAnyOrder("StreamThread-1", "StreamThread-2");
            List<String> reasons = deadLetters(service, "until it is deleted");
            assertThat(reasons).anyMatch(r -> r.contains("session '" + hurt + "'") && r.contains("metadata"));
            assertThat(reasons)
                    .anyMatch(r -> r.contains("session '" + broken + "'") && r.contains("until it is deleted"));
            channel.shutdownNow();
        } finally {
            service.close();
        }
    }

    /** A session id whose partition is none of {@code avoid}. */
    static String pick(String base, int avoid1, int avoid2) {
        for (int i = 0; ; i++) {
            String id = base + "-" + i;
            int p = ReliabilityTest.javaPartition(id);
            if (p != avoid1 && p != avoid2) return id;
        }
    }

    static byte[] metaKey(String session) {
        byte[] id = session.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(3 + id.length)
                .put((byte) 1)
                .putShort((short) id.length)
                .put(id)
                .array();
    }

    static Path taskStore(Path dataDir, int partition) {
        return dataDir.resolve("streams/razorstream/0_" + partition + "/rocksdb/sessions");
    }

    /** Overwrites a record in the local RocksDB store behind Kafka Streams' back (the service is stopped). */
    static void corruptLocally(Path db, byte[] key) throws Exception {
        RocksDB.loadLibrary();
        List<byte[]> families;
        try (Options o = new Options()) {
            families = RocksDB.listColumnFamilies(o, db.toString());
        }
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        for (byte[] f : families) descriptors.add(new ColumnFamilyDescriptor(f));
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        boolean written = false;
        try (DBOptions o = new DBOptions();
                RocksDB rocks = RocksDB.open(o, db.toString(), descriptors, handles)) {
            for (ColumnFamilyHandle h : handles) {
                if (rocks.get(h, key) != null) {
                    rocks.put(h, key, GARBAGE);
                    written = true;
                }
            }
            rocks.flushWal(true);
            for (ColumnFamilyHandle h : handles) h.close();
        }
        assertThat(written).as("the record to corrupt exists in %s", db).isTrue();
    }

    /** The session is rebuilt once (calls fail meanwhile); then found damaged again: broken. */
    static StatusRuntimeException retryUntilBroken(Runnable call) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (true) {
            StatusRuntimeException e = Services.failure(call);
            assertThat(e.getStatus().getCode())
                    .isIn(Status.Code.DATA_LOSS, Status.Code.UNAVAILABLE, Status.Code.DEADLINE_EXCEEDED);
            if (e.getStatus().getCode() == Status.Code.DATA_LOSS
                    && e.getStatus().getDescription().contains("until it is deleted")) return e;
            if (System.nanoTime() > deadline) throw e;
            Thread.sleep(500);
        }
    }

    static void awaitCommittedReply(RazorService service, String session, String turnId) {
        boolean seen = Services.consume(
                service.bootstrapServers(),
                "commit-reader",
                List.of("razorstream.replies"),
                Duration.ofSeconds(60),
                r -> r.key().equals(session)
                        && ReliabilityTest.parseReply(r.value()).getTurnId().equals(turnId));
        if (!seen) throw new AssertionError("the reply of " + session + "/" + turnId + " was never committed");
    }

    /** The dead-letter reasons, read until one contains {@code last} (or 20 s). */
    static List<String> deadLetters(RazorService service, String last) {
        List<String> reasons = new ArrayList<>();
        Services.consume(
                service.bootstrapServers(),
                "damage-reader",
                List.of("razorstream.dead-letters"),
                Duration.ofSeconds(20),
                r -> {
                    reasons.add(new String(
                            r.headers().lastHeader("razorstream.error").value(), StandardCharsets.UTF_8));
                    return reasons.getLast().contains(last);
                });
        return reasons;
    }
}
