package io.razorstream.app.grpc;

import io.razorstream.app.metrics.ServiceMetrics;
import io.razorstream.app.model.ServedModel;
import io.razorstream.app.stream.TokenRouter;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.state.HostInfo;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;

/** What the gRPC front end needs of the running service. */
public record ServiceContext(
        KafkaStreams streams,
        Producer<String, byte[]> producer,
        TokenRouter router,
        ServedModel model,
        HostInfo self,
        String turnsTopic,
        int maxTextBytes,
        int maxReplyTokens,
        Duration turnTimeout,
        ScheduledExecutorService timer,
        String applicationId,
        ServiceMetrics metrics) {}
