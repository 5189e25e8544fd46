package io.razorstream.app.stream;

import com.google.protobuf.InvalidProtocolBufferException;
import io.razorstream.proto.v1.ReplyEvent;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Completes the calls waiting on this instance with the replies a {@code read_committed} consumer sees: it reads the
 * replies topic (every partition, from its end at start) at that isolation level, so a call's {@code done} never comes
 * before the turn's transaction has committed. (Were it sent earlier, a crash before the commit would replay the turn
 * after the caller was told it was done.) Streamed deltas still travel in process, live.
 */
public final class CommittedReplies implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CommittedReplies.class);

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final TokenRouter router;
    private final Thread thread;
    private volatile boolean closed;

    private CommittedReplies(KafkaConsumer<byte[], byte[]> consumer, TokenRouter router) {
        this.consumer = consumer;
        this.router = router;
        this.thread = Thread.ofPlatform()
                .daemon()
                .name("razorstream-committed-replies")
                .unstarted(this::run);
    }

    /** Starts reading {@code topic} from its current end; returns once the reader's position is fixed. */
    public static CommittedReplies start(String bootstrap, String topic, TokenRouter router) {
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        bootstrap,
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        "read_committed",
                        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                        false,
                        ConsumerConfig.CLIENT_ID_CONFIG,
                        "razorstream-committed-replies",
                        // A committed transaction moves the partition's last stable offset without new data for a
                        // waiting fetch:
                        // the broker answers that fetch only at fetch.max.wait.ms (500 ms by default), which callers
                        // would wait too.
                        ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG,
                        10),
                new ByteArrayDeserializer(),
                new ByteArrayDeserializer());
        try {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(topic, p.partition()))
                    .toList();
            consumer.assign(partitions);
            consumer.seekToEnd(partitions);
            for (TopicPartition p : partitions)
                consumer.position(p, Duration.ofSeconds(30)); // fixes the start now, not at the first poll
        } catch (RuntimeException e) {
            consumer.close();
            throw e;
        }
        CommittedReplies replies = new CommittedReplies(consumer, router);
        replies.thread.start();
        return replies;
    }

    private void run() {
        try (consumer) {
            while (!closed) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) complete(record);
            }
        } catch (WakeupException e) {
            if (!closed) log.error("the committed-replies reader was woken up unexpectedly", e);
        } catch (RuntimeException e) {
            log.error("the committed-replies reader stopped: waiting calls will time out", e);
        }
    }

    private void complete(ConsumerRecord<byte[], byte[]> record) {
        if (record.value() == null) return; // not ours to judge: whoever wrote it is not a RazorStream instance
        ReplyEvent reply;
        try {
            reply = ReplyEvent.parseFrom(record.value());
        } catch (InvalidProtocolBufferException e) {
            return;
        }
        TokenRouter.Waiter waiter = router.waiter(reply.getSessionId(), reply.getTurnId());
        if (waiter != null) waiter.done(reply);
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        consumer.wakeup();
        thread.join(Duration.ofSeconds(10));
    }
}
