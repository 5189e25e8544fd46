package io.razorstream.app.cli;

import com.google.protobuf.util.JsonFormat;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.SessionInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

@Command(
        name = "session",
        mixinStandardHelpOptions = true,
        description = "Print a session's GetSession answer as JSON (tokens, kvBytes, fullKvBytes, ...).")
final class SessionCommand implements Callable<Integer> {
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    @Spec
    CommandSpec spec;

    @Mixin
    ClientOptions client;

    @Option(names = "--session", required = true, description = "session id")
    String session;

    @Override
    public Integer call() throws Exception {
        ManagedChannel channel = client.channel();
        Duration deadline = client.timeout(DEFAULT_TIMEOUT);
        try {
            SessionInfo info = MemoryServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS)
                    .getSession(
                            GetSessionRequest.newBuilder().setSessionId(session).build());
            spec.commandLine()
                    .getOut()
                    .println(JsonFormat.printer()
                            .alwaysPrintFieldsWithNoPresence()
                            .print(info));
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
