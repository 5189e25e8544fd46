package io.razorstream.app.cli;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.razorstream.engine.kernel.Kernels;
import io.razorstream.engine.sampling.SamplerConfig;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.RollbackRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

@Command(
        name = "chat",
        mixinStandardHelpOptions = true,
        abbreviateSynopsis = true,
        description = {
            "Talk to a running service over gRPC: each line you type is a turn of the session, the reply streams back.",
            "With --message it sends that one turn, prints the reply and "
                    + "exits; the turn id goes to stderr as 'turn-id: ID'. "
                    + "A script that retries with --turn-id ID gets the stored reply instead of a second turn.",
            "In a session, /regenerate replies to the last message again and /undo takes the last turn back; "
                    + "--regenerate (with or without --message, which then replaces the last message) does it once.",
            "With --model FILE it chats with a local model instead, "
                    + "using the model's chat template; the history stays in the "
                    + "KV cache and only each new turn is prefilled. /reset starts over, /quit or Ctrl-D ends."
        })
final class ChatCommand implements Callable<Integer> {
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    @Spec
    CommandSpec spec;

    @Mixin
    ClientOptions client;

    @Option(names = "--session", description = "session id (with --target)")
    String session;

    @Option(names = "--model", description = "chat with this local GGUF model instead of a service")
    Path model;

    @Option(
            names = "--template",
            description =
                    "with --model: jinja (the model's own template), chatml, qwen3, gemma, llama3, llama2, mistral, phi3, zephyr or plain (default: the model's own template, else its family)")
    String template;

    @Option(names = "--system", description = "with --model: a system message to start with")
    String system;

    @Option(names = "--threads", description = "with --model: engine threads (default: all cores)")
    Integer threads;

    @Option(
            names = "--kernels",
            paramLabel = "TIER",
            defaultValue = "${sys:razorstream.kernels:-auto}",
            description = "with --model: kernel tier, auto, native or java (default: ${DEFAULT-VALUE})")
    String kernels;

    @Option(names = "--message", description = "send this one turn and exit")
    String message;

    @Option(
            names = "--turn-id",
            paramLabel = "ID",
            description = "with --message: the turn's id (default: a random one); "
                    + "sending the same id again returns the stored reply and changes nothing")
    String turnId;

    @Option(names = "--max-tokens", description = "reply length (default: the service's)")
    Integer maxTokens;

    @Option(names = "--temperature", description = "0 = greedy (the default)")
    Float temperature;

    @picocli.CommandLine.Mixin
    ReplyFormatOptions format = new ReplyFormatOptions();

    @Option(
            names = "--regenerate",
            description = "take back the last turn and reply again: to its message, or to --message instead")
    boolean regenerate;

    @Option(names = "--stats", description = "print the turn id, tokens and cache bytes after each reply (to stderr)")
    boolean stats;

    @Override
    public Integer call() throws Exception {
        if (model != null) {
            if (turnId != null)
                throw new IllegalArgumentException("--turn-id is for a service (--target), not for --model");
            if (regenerate)
                throw new IllegalArgumentException("--regenerate is for a service (--target), not for --model");
            Kernels.select(Kernels.Mode.parse(kernels));
            SamplerConfig sampling = temperature == null || temperature == 0
                    ? SamplerConfig.GREEDY
                    : new SamplerConfig(temperature, 40, 0.95f, 0.05f, 1.1f, 64, System.nanoTime());
            return LocalChat.run(
                    model,
                    template,
                    system,
                    sampling,
                    maxTokens == null ? 512 : maxTokens,
                    threads == null ? Runtime.getRuntime().availableProcessors() : threads,
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)),
                    spec.commandLine().getOut());
        }
        if (session == null)
            throw new IllegalArgumentException("--session is required (or --model FILE for a local chat)");
        if (turnId != null && message == null && !regenerate) {
            throw new IllegalArgumentException(
                    "--turn-id needs --message or --regenerate (one turn; each interactive turn gets its own id)");
        }
        if (turnId != null && turnId.isBlank()) throw new IllegalArgumentException("--turn-id is empty");
        ManagedChannel channel = client.channel();
        try {
            MemoryServiceGrpc.MemoryServiceBlockingStub stub = MemoryServiceGrpc.newBlockingStub(channel);
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            if (message != null || regenerate) {
                String id = turnId != null ? turnId : UUID.randomUUID().toString();
                // Before the call: a script that is killed or times out still knows which id to retry with.
                err.println("turn-id: " + id);
                err.flush();
                int rc = turn(stub, id, message == null ? "" : message, regenerate, out, err);
                return rc == REFUSED ? 1 : rc;
            }
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            err.println("session " + session + " at " + client.target
                    + "; one turn per line, /regenerate, /undo, Ctrl-D to quit");
            err.flush();
            for (String line; (line = in.readLine()) != null; ) {
                if (line.isBlank()) continue;
                int rc;
                if (line.strip().equals("/undo")) {
                    rc = undo(stub, err);
                } else {
                    boolean again = line.strip().equals("/regenerate");
                    rc = turn(stub, UUID.randomUUID().toString(), again ? "" : line, again, out, err);
                }
                if (rc == REFUSED) continue; // reported; the session is as it was, the chat goes on
                if (rc != 0) return rc;
            }
            return 0;
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** /undo: the last turn taken back; a refusal (nothing to take back) is reported and the chat goes on. */
    private int undo(MemoryServiceGrpc.MemoryServiceBlockingStub stub, PrintWriter err) {
        Duration deadline = client.timeout(DEFAULT_TIMEOUT);
        try {
            var r = stub.withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS)
                    .rollback(RollbackRequest.newBuilder()
                            .setSessionId(session)
                            .setTurns(1)
                            .build());
            err.println("[took back turn " + String.join(", ", r.getTurnIdsList()) + "; "
                    + r.getCache().getUndoableTurns() + " more can be]");
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.FAILED_PRECONDITION) {
                ClientOptions.report(err, client.target, e, deadline, null);
                return 1;
            }
            err.println("[" + e.getStatus().getDescription() + "]");
        }
        err.flush();
        return 0;
    }

    /**
     * What turn() returns for a turn the service refused, changing nothing (nothing to regenerate, too long, ...): exit
     * status 1 for one turn.
     */
    private static final int REFUSED = -1;

    private int turn(
            MemoryServiceGrpc.MemoryServiceBlockingStub stub,
            String id,
            String text,
            boolean regenerate,
            PrintWriter out,
            PrintWriter err) {
        GenerationParams.Builder params = GenerationParams.newBuilder();
        if (maxTokens != null) params.setMaxTokens(maxTokens);
        if (temperature != null) params.setTemperature(temperature);
        format.apply(params);
        ChatRequest req = ChatRequest.newBuilder()
                .setSessionId(session)
                .setTurnId(id)
                .setText(text)
                .setRegenerate(regenerate)
                .setParams(params)
                .build();
        // The deadline starts now, per turn (a stub's deadline is fixed when the stub is made).
        Duration deadline = client.timeout(DEFAULT_TIMEOUT);
        boolean streamed = false;
        try {
            Iterator<ChatResponse> replies = stub.withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS)
                    .chat(req);
            ChatDone done = null;
            while (replies.hasNext()) {
                ChatResponse r = replies.next();
                if (r.hasDelta()) {
                    out.print(r.getDelta());
                    out.flush();
                    streamed = true;
                } else {
                    done = r.getDone();
                }
            }
            // A repeated turn id may stream nothing: the stored reply comes in done.
            if (!streamed && done != null) out.print(done.getText());
            out.println();
            out.flush();
            if (stats && done != null) {
                err.printf(
                        Locale.ROOT,
                        "[turn %s%s%s; %d tokens in the session; cache %,d bytes, "
                                + "full %,d (%.2fx smaller); finish %s]%n",
                        id,
                        done.getDuplicate() ? " (duplicate: the stored reply)" : "",
                        done.getShiftedTokens() > 0
                                ? " (context shift: " + done.getShiftedTokens() + " positions given back first)"
                                : "",
                        done.getCache().getTokens(),
                        done.getCache().getKvBytes(),
                        done.getCache().getFullKvBytes(),
                        done.getCache().getCompressionRatio(),
                        done.getFinishReason());
                err.flush();
            }
            return 0;
        } catch (StatusRuntimeException e) {
            if (streamed) out.println(); // the reply broke off
            out.flush();
            ClientOptions.report(
                    err,
                    client.target,
                    e,
                    deadline,
                    message != null ? "retry with --turn-id " + id + " to not repeat the turn" : null);
            Status.Code code = e.getStatus().getCode();
            return code == Status.Code.FAILED_PRECONDITION || code == Status.Code.INVALID_ARGUMENT ? REFUSED : 1;
        }
    }
}
