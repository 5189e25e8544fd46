package io.razorstream.app.grpc;

import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.store.StoreFormatException;
import org.apache.kafka.clients.producer.BufferExhaustedException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.errors.ProcessorStateException;
import org.apache.kafka.streams.errors.StreamsNotStartedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every failure of a call as a status a client can act on - never UNKNOWN, which is what gRPC answers for an exception
 * nobody mapped. {@link #interceptor} catches whatever a handler throws.
 */
final class StatusMapping {
    private static final Logger log = LoggerFactory.getLogger(StatusMapping.class);

    private StatusMapping() {}

    /** The status of a refused turn, from its reply's error code (a gRPC code name; anything else is INTERNAL). */
    static Status ofReply(ReplyEvent r) {
        Status.Code code;
        try {
            code = Status.Code.valueOf(r.getErrorCode());
        } catch (IllegalArgumentException e) {
            code = Status.Code.INTERNAL;
        }
        return Status.fromCode(code).withDescription(r.getError());
    }

    static Status of(Throwable t) {
        if (t instanceof StatusRuntimeException s) return s.getStatus();
        if (t instanceof InvalidStateStoreException || t instanceof StreamsNotStartedException) {
            return Status.UNAVAILABLE.withDescription("the session store is not queryable right now (" + t.getMessage()
                    + "; starting or rebalancing); retry");
        }
        if (t instanceof StoreFormatException || t instanceof ProcessorStateException)
            return Status.DATA_LOSS.withDescription(t.getMessage());
        if (t instanceof BufferExhaustedException || t instanceof RecordTooLargeException) {
            return Status.RESOURCE_EXHAUSTED.withDescription("Kafka refused the turn: " + t.getMessage());
        }
        if (t instanceof RetriableException || t instanceof TimeoutException) {
            return Status.UNAVAILABLE.withDescription(
                    "Kafka is not reachable right now: " + t.getMessage() + "; retry");
        }
        if (t instanceof IllegalArgumentException) return Status.INVALID_ARGUMENT.withDescription(t.getMessage());
        log.error("a call failed unexpectedly", t);
        return Status.INTERNAL.withDescription(t.toString());
    }

    /** Turns an exception thrown by a service method into its status instead of UNKNOWN. */
    static ServerInterceptor interceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(
                    ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                ServerCall.Listener<Q> listener = next.startCall(call, headers);
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
                    @Override
                    public void onMessage(Q message) {
                        guard(() -> super.onMessage(message));
                    }

                    @Override
                    public void onHalfClose() {
                        guard(super::onHalfClose);
                    }

                    private void guard(Runnable r) {
                        try {
                            r.run();
                        } catch (RuntimeException e) {
                            call.close(of(e), new Metadata());
                        }
                    }
                };
            }
        };
    }
}
