package io.razorstream.app.grpc;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.stub.MetadataUtils;
import io.razorstream.app.security.Tenants;
import io.razorstream.app.security.Tls;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import org.apache.kafka.streams.state.HostInfo;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Calls between instances: a call about a session that another instance owns is sent on to it, marked as forwarded so
 * that the owner answers it itself (no forwarding loops while partitions move).
 */
final class Forwarding implements AutoCloseable {
    static final Metadata.Key<String> FORWARDED =
            Metadata.Key.of("razorstream-forwarded", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<Boolean> IS_FORWARDED = Context.key("razorstream-forwarded");

    private final ConcurrentHashMap<HostInfo, ManagedChannel> channels = new ConcurrentHashMap<>();
    private final Tenants tenants;
    private final Tls tls;

    Forwarding(Tenants tenants, Tls tls) {
        this.tenants = tenants;
        this.tls = tls;
    }

    /** Puts "was this call forwarded?" into the call's context. */
    static ServerInterceptor interceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(
                    ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                return Contexts.interceptCall(
                        Context.current().withValue(IS_FORWARDED, headers.containsKey(FORWARDED)), call, headers, next);
            }
        };
    }

    static boolean forwarded() {
        return Boolean.TRUE.equals(IS_FORWARDED.get());
    }

    MemoryServiceGrpc.MemoryServiceStub async(HostInfo host) {
        return MemoryServiceGrpc.newStub(channel(host))
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(marker()));
    }

    MemoryServiceGrpc.MemoryServiceBlockingStub blocking(HostInfo host) {
        return MemoryServiceGrpc.newBlockingStub(channel(host))
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(marker()));
    }

    private ManagedChannel channel(HostInfo host) {
        return channels.computeIfAbsent(
                host,
                h -> Grpc.newChannelBuilderForAddress(h.host(), h.port(), Tls.grpcClient(tls))
                        .build());
    }

    /**
     * Marks the call forwarded and carries the caller's tenant (with the instances' shared secret when keys are on).
     */
    private Metadata marker() {
        Metadata m = new Metadata();
        m.put(FORWARDED, "1");
        Metadata tenant = tenants.forwardingHeaders();
        if (tenant != null) m.merge(tenant);
        return m;
    }

    @Override
    public void close() {
        for (ManagedChannel c : channels.values()) {
            c.shutdown();
            try {
                c.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
