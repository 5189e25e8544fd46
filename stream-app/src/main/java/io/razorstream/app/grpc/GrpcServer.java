package io.razorstream.app.grpc;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.razorstream.app.security.Tenants;
import io.razorstream.app.security.Tls;
import io.razorstream.proto.v1.MemoryServiceGrpc;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/** The gRPC server: MemoryService, standard health checking and server reflection. */
public final class GrpcServer implements AutoCloseable {
    private final Server server;
    /** The same services in process, for the HTTP port: its calls take the gRPC path without a socket. */
    private final Server inProcess;

    private final String inProcessName = "razorstream-" + UUID.randomUUID();
    private final HealthStatusManager health = new HealthStatusManager();
    private final Forwarding forwarding;

    /**
     * {@code tls}: null for plaintext; {@code tenants}: the API keys (every MemoryService call is authenticated first
     * when they are on).
     */
    public GrpcServer(String bind, int port, ServiceContext ctx, Tls tls, Tenants tenants) {
        this.forwarding = new Forwarding(tenants, tls);
        // the last interceptor runs first: authentication, then the forwarded mark, then status mapping around the
        // service
        ServerServiceDefinition memory = ServerInterceptors.intercept(
                new MemoryServiceImpl(ctx, forwarding),
                StatusMapping.interceptor(),
                Forwarding.interceptor(),
                tenants.interceptor());
        this.server = NettyServerBuilder.forAddress(new InetSocketAddress(bind, port), Tls.grpcServer(tls))
                .addService(memory)
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance())
                .build();
        this.inProcess =
                InProcessServerBuilder.forName(inProcessName).addService(memory).build();
        setServing(false);
    }

    public GrpcServer start() throws IOException {
        server.start();
        inProcess.start();
        return this;
    }

    /** A channel to this server's services in process (close it when done). */
    public ManagedChannel inProcessChannel() {
        return InProcessChannelBuilder.forName(inProcessName).build();
    }

    public int port() {
        return server.getPort();
    }

    /** Health: SERVING while the stream processing runs, NOT_SERVING otherwise. */
    public void setServing(boolean serving) {
        ServingStatus s = serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
        health.setStatus("", s);
        health.setStatus(MemoryServiceGrpc.SERVICE_NAME, s);
    }

    /** Stops accepting calls, lets calls in flight finish for up to {@code grace}, then cancels the rest. */
    public void shutdown(Duration grace) {
        health.enterTerminalState();
        inProcess.shutdown();
        server.shutdown();
        try {
            if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                server.shutdownNow();
                server.awaitTermination(5, TimeUnit.SECONDS);
            }
            inProcess.shutdownNow();
        } catch (InterruptedException e) {
            inProcess.shutdownNow();
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
        forwarding.close();
    }

    @Override
    public void close() {
        shutdown(Duration.ofSeconds(10));
    }
}
