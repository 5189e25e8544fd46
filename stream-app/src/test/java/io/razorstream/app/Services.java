package io.razorstream.app;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.razorstream.app.config.ServiceConfig;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.MemoryServiceGrpc;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Test helpers: start service instances, talk to them over real gRPC. */
final class Services {
    private Services() {}

    static final String KEY = "K7Q2";

    static RazorService start(Path dataDir, String bootstrap, String appId) throws Exception {
        return start(dataDir, bootstrap, appId, Map.of());
    }

    /** {@code extra}: more settings (they win over the test defaults). */
    static RazorService start(Path dataDir, String bootstrap, String appId, Map<String, String> extra) throws Exception {
        Map<String, String> flags = new LinkedHashMap<>();
        flags.put("data.dir", dataDir.toString());
        flags.put("grpc.port", "0");
        flags.put("engine.threads", "2");
        flags.put("application.id", appId);
        flags.put("topic.partitions", "4");
        flags.put("turn.timeout", "PT2M");
        if (bootstrap != null) flags.put("bootstrap.servers", bootstrap);
        flags.putAll(extra);
        RazorService s = RazorService.start(ServiceConfig.load(null, Map.of(), flags));
        s.awaitRunning(Duration.ofMinutes(2));
        return s;
    }

    static ManagedChannel channel(RazorService s) {
        return ManagedChannelBuilder.forAddress("localhost", s.grpcPort()).usePlaintext().build();
    }

    /** Filler text without the marker character. */
    static String filler(Random r, int chars) {
        String words = "the quick brown fox jumps over a lazy dog and runs far away ";
        StringBuilder sb = new StringBuilder();
        while (sb.length() < chars) sb.append(words, r.nextInt(words.length() / 2), words.length());
        return sb.substring(0, chars);
    }

    record Reply(String streamed, ChatDone done, int deltas) {}

    static Reply chat(MemoryServiceGrpc.MemoryServiceBlockingStub stub, String session, String turnId, String text, int maxTokens) {
        Iterator<ChatResponse> it = stub.chat(ChatRequest.newBuilder().setSessionId(session).setTurnId(turnId).setText(text)
                .setParams(GenerationParams.newBuilder().setMaxTokens(maxTokens)).build());
        StringBuilder sb = new StringBuilder();
        ChatDone done = null;
        int deltas = 0;
        while (it.hasNext()) {
            ChatResponse r = it.next();
            if (r.hasDelta()) {
                sb.append(r.getDelta());
                deltas++;
            } else {
                done = r.getDone();
            }
        }
        return new Reply(sb.toString(), done, deltas);
    }
}
