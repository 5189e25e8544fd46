package io.razorstream.app.grpc;

import io.grpc.Status;
import io.razorstream.app.stream.TokenRouter;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.TurnEvent;
import org.apache.kafka.clients.producer.ProducerRecord;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * The way into a session from gRPC: a turn is produced to the turns topic (the log is the only way in), and the call
 * waits, on this instance, for its committed reply (or its deadline). Streamed deltas reach the waiter live.
 */
final class TurnGateway {
    private final ServiceContext ctx;

    TurnGateway(ServiceContext ctx) {
        this.ctx = ctx;
    }

    /** A turn sent to the log, and the future of its committed reply. */
    record Turned(CompletableFuture<ReplyEvent> future, Runnable onCancel) {
        void cancel() {
            onCancel.run();
        }
    }

    /**
     * Produces {@code event} and registers for its reply; {@code deltas} (or null) gets the reply text as it is
     * generated.
     */
    Turned submit(TurnEvent event, Consumer<String> deltas) {
        CompletableFuture<ReplyEvent> future = new CompletableFuture<>();
        AtomicBoolean finished = new AtomicBoolean(), firstText = new AtomicBoolean();
        long arrived = System.nanoTime();
        TokenRouter router = ctx.router();
        TokenRouter.Waiter waiter = new TokenRouter.Waiter() {
            @Override
            public void delta(String text) {
                if (!text.isEmpty() && firstText.compareAndSet(false, true))
                    ctx.metrics().firstToken(System.nanoTime() - arrived);
                if (deltas != null && !finished.get()) deltas.accept(text);
            }

            @Override
            public void done(ReplyEvent reply) {
                if (finished.compareAndSet(false, true)) {
                    router.unregister(event.getSessionId(), event.getTurnId(), this);
                    future.complete(withCommitted(reply));
                }
            }
        };
        Runnable cancel = () -> {
            if (finished.compareAndSet(false, true)) router.unregister(event.getSessionId(), event.getTurnId(), waiter);
        };
        if (!router.register(event.getSessionId(), event.getTurnId(), waiter)) {
            throw Status.ALREADY_EXISTS
                    .withDescription("another call already waits for turn '" + event.getTurnId() + "' of session '"
                            + event.getSessionId() + "'")
                    .asRuntimeException();
        }
        ctx.timer()
                .schedule(
                        () -> {
                            if (finished.compareAndSet(false, true)) {
                                router.unregister(event.getSessionId(), event.getTurnId(), waiter);
                                future.completeExceptionally(Status.DEADLINE_EXCEEDED
                                        .withDescription("turn '" + event.getTurnId() + "' was not processed within "
                                                + ctx.turnTimeout()
                                                + "; send it again with the same turn id (it is applied at most once)")
                                        .asRuntimeException());
                            }
                        },
                        ctx.turnTimeout().toMillis(),
                        TimeUnit.MILLISECONDS);
        ctx.producer()
                .send(new ProducerRecord<>(ctx.turnsTopic(), event.getSessionId(), event.toByteArray()), (md, e) -> {
                    if (e != null && finished.compareAndSet(false, true)) {
                        router.unregister(event.getSessionId(), event.getTurnId(), waiter);
                        future.completeExceptionally(Status.UNAVAILABLE
                                .withDescription("cannot write the turn to Kafka: " + e.getMessage())
                                .withCause(e)
                                .asRuntimeException());
                    }
                });
        return new Turned(future, cancel);
    }

    /**
     * The reply with its stages' last one: emitted to seen committed here (instances' clocks agree to NTP's precision).
     */
    private ReplyEvent withCommitted(ReplyEvent reply) {
        if (!reply.hasStages() || reply.getCreatedAtMs() <= 0) return reply;
        long micros = Math.max(0, System.currentTimeMillis() - reply.getCreatedAtMs()) * 1000;
        ctx.metrics().committed(micros);
        return reply.toBuilder()
                .setStages(reply.getStages().toBuilder().setCommittedMicros(micros))
                .build();
    }

    /**
     * Blocks for a submitted turn's reply (a refused turn's reply carries its error: {@link StatusMapping#ofReply}).
     */
    ReplyEvent await(Turned t) {
        try {
            return t.future().get(ctx.turnTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw StatusMapping.of(e.getCause()).asRuntimeException();
        } catch (TimeoutException e) {
            throw Status.DEADLINE_EXCEEDED
                    .withDescription("turn not processed in time")
                    .asRuntimeException();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
    }
}
