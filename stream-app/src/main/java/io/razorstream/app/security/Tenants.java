package io.razorstream.app.security;

import io.grpc.ClientInterceptor;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;

import java.util.Optional;

/**
 * Who a call is for. With API keys configured every MemoryService call must carry {@code authorization: Bearer KEY};
 * the key's tenant then scopes the call: its session ids are the tenant's, stored and keyed on Kafka as
 * {@code TENANT/ID}, so one tenant can neither see nor touch another's sessions (a session of another tenant is simply
 * not found). A call forwarded between instances carries the tenant with the instances' shared secret instead. Without
 * keys there are no tenants and ids are used as given.
 */
public final class Tenants {
    public static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final Metadata.Key<String> INTERNAL =
            Metadata.Key.of("razorstream-internal", Metadata.ASCII_STRING_MARSHALLER);
    static final Metadata.Key<String> TENANT = Metadata.Key.of("razorstream-tenant", Metadata.ASCII_STRING_MARSHALLER);
    private static final Context.Key<String> CURRENT = Context.key("razorstream-tenant");
    private static final String SEPARATOR = "/";

    private final ApiKeys keys; // null: no keys, no tenants

    public Tenants(ApiKeys keys) {
        this.keys = keys;
    }

    public boolean enabled() {
        return keys != null;
    }

    /** The tenant of a presented {@code Authorization} header value, or empty when it is missing or not a known key. */
    public Optional<String> tenantOfHeader(String authorization) {
        if (keys == null) return Optional.of("");
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) return Optional.empty();
        return keys.tenantOf(authorization.substring(7).strip());
    }

    /** Authenticates every call of the services it wraps and puts the tenant in the call's context. */
    public ServerInterceptor interceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(
                    ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                String tenant;
                if (keys == null) {
                    tenant = "";
                } else if (headers.containsKey(INTERNAL)) {
                    if (!ApiKeys.sameSecret(headers.get(INTERNAL), keys.internalSecret())
                            || headers.get(TENANT) == null) {
                        return refuse(
                                call,
                                "a forwarded call without the instances' shared secret (do "
                                        + "all instances read the same auth.keys-file?)");
                    }
                    tenant = headers.get(TENANT);
                } else {
                    String auth = headers.get(AUTHORIZATION);
                    if (auth == null)
                        return refuse(
                                call,
                                "no API key: send the header 'authorization: Bearer KEY' "
                                        + "(the CLI: --api-key or RAZORSTREAM_API_KEY)");
                    Optional<String> t = tenantOfHeader(auth);
                    if (t.isEmpty()) return refuse(call, "the API key is not valid");
                    tenant = t.get();
                }
                return Contexts.interceptCall(Context.current().withValue(CURRENT, tenant), call, headers, next);
            }
        };
    }

    private static <Q, R> ServerCall.Listener<Q> refuse(ServerCall<Q, R> call, String why) {
        call.close(Status.UNAUTHENTICATED.withDescription(why), new Metadata());
        return new ServerCall.Listener<>() {};
    }

    /**
     * A client interceptor that sends {@code authorization} (a whole header value, {@code Bearer KEY}) with every call.
     */
    public static ClientInterceptor sending(String authorization) {
        Metadata m = new Metadata();
        m.put(AUTHORIZATION, authorization);
        return MetadataUtils.newAttachHeadersInterceptor(m);
    }

    /** The current call's tenant ("" without keys). */
    public static String current() {
        String t = CURRENT.get();
        return t == null ? "" : t;
    }

    /** The id a client's session id has in the store and on Kafka. */
    public static String internal(String sessionId) {
        String t = current();
        return t.isEmpty() || sessionId.isEmpty()
                ? sessionId
                : t + SEPARATOR + sessionId; // an empty id stays empty: validation refuses it
    }

    /** The id the client knows, of one of its tenant's internal ids. */
    public static String external(String internalId) {
        String t = current();
        return t.isEmpty() ? internalId : internalId.substring(t.length() + SEPARATOR.length());
    }

    /** Whether an internal id belongs to the current tenant. */
    public static boolean mine(String internalId) {
        String t = current();
        return t.isEmpty() || internalId.startsWith(t + SEPARATOR);
    }

    /** Headers that carry the current tenant to another instance ({@code null} without keys). */
    public Metadata forwardingHeaders() {
        if (keys == null) return null;
        Metadata m = new Metadata();
        m.put(INTERNAL, keys.internalSecret());
        m.put(TENANT, current());
        return m;
    }
}
