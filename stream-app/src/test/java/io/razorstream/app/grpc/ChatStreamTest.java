package io.razorstream.app.grpc;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatResponse;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Deltas respect the call's readiness: nothing is sent while the client is not ready; held text goes out merged, done
 * after it.
 */
class ChatStreamTest {
    /** A call whose readiness the test sets, recording what is sent (gRPC's own observer needs a transport). */
    static final class Call extends ServerCallStreamObserver<ChatResponse> {
        boolean ready = true, cancelled, completed;
        Runnable onReady;
        Throwable error;
        final List<ChatResponse> sent = new ArrayList<>();

        void becomeReady() {
            ready = true;
            onReady.run();
        }

        @Override
        public boolean isReady() {
            return ready;
        }

        @Override
        public void setOnReadyHandler(Runnable r) {
            onReady = r;
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }

        @Override
        public void setOnCancelHandler(Runnable r) {}

        @Override
        public void setCompression(String c) {}

        @Override
        public void request(int n) {}

        @Override
        public void setMessageCompression(boolean b) {}

        @Override
        public void disableAutoInboundFlowControl() {}

        @Override
        public void onNext(ChatResponse m) {
            assertThat(ready).as("sent while the call was not ready").isTrue();
            assertThat(completed).isFalse();
            sent.add(m);
        }

        @Override
        public void onError(Throwable t) {
            error = t;
        }

        @Override
        public void onCompleted() {
            completed = true;
        }
    }

    private static ChatResponse done(String text) {
        return ChatResponse.newBuilder()
                .setDone(ChatDone.newBuilder().setText(text))
                .build();
    }

    @Test
    void aReadyClientGetsEachDeltaAsItComes() {
        Call call = new Call();
        ChatStream stream = new ChatStream(call);
        stream.delta("Hel");
        stream.delta("lo");
        stream.done(done("Hello"));
        assertThat(call.sent).extracting(ChatResponse::getDelta).containsExactly("Hel", "lo", "");
        assertThat(call.sent.get(2).getDone().getText()).isEqualTo("Hello");
        assertThat(call.completed).isTrue();
    }

    @Test
    void aSlowClientGetsTheHeldTextMergedWhenReadyAndDoneAfterIt() {
        Call call = new Call();
        ChatStream stream = new ChatStream(call);
        stream.delta("a");
        call.ready = false;
        stream.delta("b");
        stream.delta("c");
        stream.done(done("abc"));
        assertThat(call.sent).hasSize(1);
        assertThat(call.completed).isFalse();
        call.becomeReady();
        assertThat(call.sent).extracting(ChatResponse::getDelta).containsExactly("a", "bc", "");
        assertThat(call.completed).isTrue();
        stream.delta("late");
        assertThat(call.sent).hasSize(3);
    }

    @Test
    void aFailureEndsTheCallAtOnceAndACancelledCallGetsNothing() {
        Call call = new Call();
        ChatStream stream = new ChatStream(call);
        call.ready = false;
        stream.delta("x");
        stream.fail(Status.DATA_LOSS.asRuntimeException());
        assertThat(call.error).isNotNull();
        call.becomeReady();
        assertThat(call.sent).isEmpty();

        Call cancelled = new Call();
        ChatStream other = new ChatStream(cancelled);
        cancelled.cancelled = true;
        other.delta("y");
        other.done(done("y"));
        assertThat(cancelled.sent).isEmpty();
        assertThat(cancelled.completed).isFalse();
    }
}
