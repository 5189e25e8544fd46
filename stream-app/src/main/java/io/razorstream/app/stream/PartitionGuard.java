package io.razorstream.app.stream;

import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * Makes a session's owner independent of the producer's partitioner. The service (and Kafka's Java producer) put a
 * session's turns in the partition of murmur2(session id); librdkafka clients (kcat, confluent-kafka) hash keys
 * differently by default. A turn found in any other partition is moved to the reroute topic, in the partition its key
 * belongs to, before any state is touched; the task owning that partition reads it from there. Both moves are in the
 * task's exactly-once transaction.
 */
final class PartitionGuard implements Processor<byte[], byte[], byte[], byte[]> {
    private final int partitions;
    private ProcessorContext<byte[], byte[]> context;

    /** {@code partitions}: of the turns topic (the reroute topic has as many). */
    PartitionGuard(int partitions) {
        this.partitions = partitions;
    }

    /** The partition the Java producer's default partitioner gives a key. */
    static int partitionOf(byte[] key, int partitions) {
        return Utils.toPositive(Utils.murmur2(key)) % partitions;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        int partition = context.recordMetadata().map(RecordMetadata::partition).orElse(-1);
        boolean misplaced = record.key() != null
                && partitions > 1
                && partition >= 0
                && partitionOf(record.key(), partitions) != partition;
        context.forward(record, misplaced ? RazorTopology.REROUTE_SINK : RazorTopology.SESSIONS);
    }
}
