package io.razorstream.app.cli;

import com.google.protobuf.util.JsonFormat;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.RollbackRequest;
import io.razorstream.proto.v1.RollbackResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

@Command(
        name = "rollback",
        mixinStandardHelpOptions = true,
        description = {
            "Take back a session's last turns, exactly (a chat turn is "
                    + "its message and its reply); print the answer as JSON.",
            "At most the service's session.undo-turns can be taken back. "
                    + "A script that retries with --turn-id ID takes nothing more " + "back."
        })
final class RollbackCommand implements Callable<Integer> {
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    @Spec
    CommandSpec spec;

    @Mixin
    ClientOptions client;

    @Option(names = "--session", required = true, description = "session id")
    String session;

    @Option(
            names = "--turns",
            defaultValue = "1",
            description = "how many of the last turns (default: ${DEFAULT-VALUE})")
    int turns;

    @Option(names = "--turn-id", paramLabel = "ID", description = "names the rollback (default: a random one)")
    String turnId;

    @Override
    public Integer call() throws Exception {
        if (turns < 1) throw new IllegalArgumentException("--turns must be >= 1, got " + turns);
        ManagedChannel channel = client.channel();
        Duration deadline = client.timeout(DEFAULT_TIMEOUT);
        try {
            RollbackRequest.Builder req =
                    RollbackRequest.newBuilder().setSessionId(session).setTurns(turns);
            if (turnId != null) req.setTurnId(turnId);
            RollbackResponse r = MemoryServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS)
                    .rollback(req.build());
            spec.commandLine()
                    .getOut()
                    .println(JsonFormat.printer()
                            .alwaysPrintFieldsWithNoPresence()
                            .print(r));
            spec.commandLine().getOut().flush();
            return 0;
        } catch (StatusRuntimeException e) {
            ClientOptions.report(spec.commandLine().getErr(), client.target, e, deadline, null);
            return 1;
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
