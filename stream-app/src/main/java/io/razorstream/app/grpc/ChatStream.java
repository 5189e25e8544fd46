package io.razorstream.app.grpc;

import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.razorstream.proto.v1.ChatResponse;

/**
 * A chat call's outgoing messages under gRPC flow control. Deltas are produced by the decode loop, which must not wait
 * for a slow client: while the call is not ready they are merged, and sent as one delta when it is (its on-ready
 * handler); the final {@code done} follows the last of them. Messages are sent only while the call is ready, so a slow
 * client holds at most the text of one reply here, never a queue of messages in gRPC.
 */
final class ChatStream {
    private final ServerCallStreamObserver<ChatResponse> call;
    private final StringBuilder held = new StringBuilder();
    private ChatResponse last;
    private boolean finished;

    /** Takes over {@code call}'s on-ready handler: create it in the service method, before anything is sent. */
    ChatStream(ServerCallStreamObserver<ChatResponse> call) {
        this.call = call;
        call.setOnReadyHandler(this::drain);
    }

    /** Reply text as it is generated (any thread). */
    synchronized void delta(String text) {
        if (finished) return;
        held.append(text);
        drain();
    }

    /** The final message, sent after every held delta, then the call completes. */
    synchronized void done(ChatResponse message) {
        if (finished) return;
        last = message;
        drain();
    }

    /** Ends the call with an error at once (what was held is dropped: the reply failed). */
    synchronized void fail(StatusRuntimeException error) {
        if (finished) return;
        finished = true;
        if (!call.isCancelled()) call.onError(error);
    }

    private synchronized void drain() {
        if (finished) return;
        if (call.isCancelled()) {
            finished = true;
            return;
        }
        if (held.length() > 0) {
            if (!call.isReady()) return;
            call.onNext(ChatResponse.newBuilder().setDelta(held.toString()).build());
            held.setLength(0);
        }
        if (last != null) {
            if (!call.isReady()) return;
            call.onNext(last);
            call.onCompleted();
            finished = true;
        }
    }
}
