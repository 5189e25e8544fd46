package io.razorstream.app.cli;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import picocli.CommandLine.Option;

/** --target HOST:PORT of a running service. */
final class ClientOptions {
    @Option(names = "--target", defaultValue = "localhost:7070", paramLabel = "HOST:PORT", description = "the service (default: ${DEFAULT-VALUE})")
    String target;

    ManagedChannel channel() {
        return ManagedChannelBuilder.forTarget(target).usePlaintext().build();
    }
}
