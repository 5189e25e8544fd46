package io.razorstream.app.cli;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

@Command(name = "chat", mixinStandardHelpOptions = true,
        description = {"Talk to a running service over gRPC: each line you type is a turn of the session, the reply streams back.",
                "With --message it sends that one turn, prints the reply and exits.",
                "With --model FILE it chats with a local model instead, using the model's chat template; the history stays in the "
                        + "KV cache and only each new turn is prefilled. /reset starts over, /quit or Ctrl-D ends."})
final class ChatCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ClientOptions client;

    @Option(names = "--session", description = "session id (with --target)")
    String session;

    @Option(names = "--model", description = "chat with this local GGUF model instead of a service")
    java.nio.file.Path model;

    @Option(names = "--template", description = "with --model: chatml, llama3, llama2, mistral, zephyr or plain (default: from the model)")
    String template;

    @Option(names = "--system", description = "with --model: a system message to start with")
    String system;

    @Option(names = "--threads", description = "with --model: engine threads (default: all cores)")
    Integer threads;

    @Option(names = "--message", description = "send this one turn and exit")
    String message;

    @Option(names = "--max-tokens", description = "reply length (default: the service's)")
    Integer maxTokens;

    @Option(names = "--temperature", description = "0 = greedy (the default)")
    Float temperature;

    @Option(names = "--stats", description = "print tokens and cache bytes after each reply (to stderr)")
    boolean stats;

    @Override
    public Integer call() throws Exception {
        if (model != null) {
            io.razorstream.engine.sampling.SamplerConfig sampling = temperature == null || temperature == 0 ? io.razorstream.engine.sampling.SamplerConfig.GREEDY
                    : new io.razorstream.engine.sampling.SamplerConfig(temperature, 40, 0.95f, 0.05f, 1.1f, 64, System.nanoTime());
            return LocalChat.run(model, template, system, sampling, maxTokens == null ? 512 : maxTokens,
                    threads == null ? Runtime.getRuntime().availableProcessors() : threads,
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), spec.commandLine().getOut());
        }
        if (session == null) throw new IllegalArgumentException("--session is required (or --model FILE for a local chat)");
        ManagedChannel channel = client.channel();
        try {
            MemoryServiceGrpc.MemoryServiceBlockingStub stub = MemoryServiceGrpc.newBlockingStub(channel);
            PrintWriter out = spec.commandLine().getOut();
            if (message != null) return turn(stub, message, out);
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            System.err.println("session " + session + " at " + client.target + "; one turn per line, Ctrl-D to quit");
            for (String line; (line = in.readLine()) != null; ) {
                if (line.isBlank()) continue;
                int rc = turn(stub, line, out);
                if (rc != 0) return rc;
            }
            return 0;
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private int turn(MemoryServiceGrpc.MemoryServiceBlockingStub stub, String text, PrintWriter out) {
        GenerationParams.Builder params = GenerationParams.newBuilder();
        if (maxTokens != null) params.setMaxTokens(maxTokens);
        if (temperature != null) params.setTemperature(temperature);
        ChatRequest req = ChatRequest.newBuilder().setSessionId(session).setTurnId(UUID.randomUUID().toString()).setText(text).setParams(params).build();
        try {
            Iterator<ChatResponse> replies = stub.chat(req);
            ChatDone done = null;
            while (replies.hasNext()) {
                ChatResponse r = replies.next();
                if (r.hasDelta()) {
                    out.print(r.getDelta());
                    out.flush();
                } else {
                    done = r.getDone();
                }
            }
            out.println();
            out.flush();
            if (stats && done != null) {
                System.err.printf(Locale.ROOT, "[%d tokens in the session; cache %,d bytes, full %,d (%.2fx smaller); finish %s]%n", done.getCache().getTokens(),
                        done.getCache().getKvBytes(), done.getCache().getFullKvBytes(), done.getCache().getCompressionRatio(), done.getFinishReason());
            }
            return 0;
        } catch (StatusRuntimeException e) {
            System.err.println("error: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            return 1;
        }
    }
}
