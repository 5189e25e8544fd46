package io.razorstream.app.grpc;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.razorstream.app.security.Tenants;
import io.razorstream.app.stream.CacheFigures;
import io.razorstream.app.stream.RazorTopology;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.ListSessionsRequest;
import io.razorstream.proto.v1.ListSessionsResponse;
import io.razorstream.proto.v1.RecentTurn;
import io.razorstream.proto.v1.SessionInfo;
import io.razorstream.store.ReadOnlyStreamsBackend;
import io.razorstream.store.SessionMeta;
import io.razorstream.store.SessionStore;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyQueryMetadata;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsMetadata;
import org.apache.kafka.streams.TaskMetadata;
import org.apache.kafka.streams.ThreadMetadata;
import org.apache.kafka.streams.state.HostInfo;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the gRPC front end reads about sessions: which instance owns one, its metadata from the owner's store, and pages
 * of the sessions of every instance. A page reads at most one page of metadata records from each store.
 */
final class SessionQueries {
    static final int DEFAULT_PAGE = 50, MAX_PAGE = 1000;

    private final ServiceContext ctx;
    private final Forwarding forwarding;
    private final PageTokens pageTokens;

    SessionQueries(ServiceContext ctx, Forwarding forwarding) {
        this.ctx = ctx;
        this.forwarding = forwarding;
        this.pageTokens = new PageTokens(ctx.applicationId());
    }

    /**
     * The owner of the session when that is another instance and this call was not forwarded; null to handle it here.
     */
    HostInfo ownerUnlessHere(String sessionId) {
        if (Forwarding.forwarded()) return null;
        StartupWait.awaitRunning(ctx.streams()::state, StartupWait.BOUND);
        KeyQueryMetadata md = ctx.streams()
                .queryMetadataForKey(
                        RazorTopology.STORE, sessionId, Serdes.String().serializer());
        if (md == null || md.equals(KeyQueryMetadata.NOT_AVAILABLE)) {
            throw Status.UNAVAILABLE
                    .withDescription("the owner of session '" + sessionId
                            + "' is not known right now (starting or rebalancing); retry")
                    .asRuntimeException();
        }
        return md.activeHost().equals(ctx.self()) ? null : md.activeHost();
    }

    /** A session of this instance's store, or empty. */
    Optional<SessionMeta> meta(String sessionId) {
        return localStore().meta(sessionId);
    }

    /** As {@link #info(SessionMeta)}, with the session's recent turns and their replies (newest first). */
    SessionInfo infoWithRecentTurns(SessionMeta m) {
        SessionInfo.Builder b = info(m).toBuilder();
        SessionStore store = localStore();
        for (String turnId : m.recentTurnIds()) {
            store.appliedTurn(m.sessionId(), turnId)
                    .filter(t -> !t.rolledBack())
                    .ifPresent(t -> b.addRecentTurns(RecentTurn.newBuilder()
                            .setTurnId(turnId)
                            .setReplied(t.finishReason() != FinishReason.FINISH_REASON_NO_REPLY_VALUE)
                            .setReply(t.reply())));
        }
        return b.build();
    }

    SessionInfo info(SessionMeta m) {
        int hs = ctx.model().loaded().model().config().headSize();
        return SessionInfo.newBuilder()
                .setSessionId(m.sessionId())
                .setCache(CacheFigures.of(
                        m.tokens(),
                        m.kvBytes(hs),
                        m.fullKvBytes(hs),
                        m.positionOffset(),
                        m.shifts(),
                        m.undoBytes(),
                        m.undoableTurns()))
                .setLastActivityMs(m.lastActivityMillis())
                .setTurnsRemembered((int) Math.min(Integer.MAX_VALUE, m.turnsApplied()))
                .setModelFingerprint(m.modelFingerprint())
                .setProfileFingerprint(m.profileFingerprint())
                .build();
    }

    /**
     * One page of every instance's sessions in the store's key order: the next {@code size + 1} of each of this
     * instance's partitions and each peer's next page (asked with the same token), merged; the page token names the
     * last one returned.
     */
    ListSessionsResponse page(ListSessionsRequest req) {
        if (req.getPageSize() < 0) throw invalid("page_size must be >= 0");
        String after = req.getPageToken().isEmpty() ? null : pageTokens.decode(req.getPageToken());
        if (!req.getPageToken().isEmpty() && after == null)
            throw invalid("page_token is not one this service gave out");
        int size = req.getPageSize() == 0 ? DEFAULT_PAGE : Math.min(req.getPageSize(), MAX_PAGE);
        List<SessionInfo> all = new ArrayList<>();
        boolean more = false;
        // Each local partition's store in its own key order (the all-partitions view goes partition by partition)
        for (SessionStore store : partitionStores())
            for (SessionMeta m : tenantsSessions(store, after, size + 1)) all.add(info(m));
        if (!Forwarding.forwarded()) {
            for (StreamsMetadata peer : ctx.streams().metadataForAllStreamsClients()) {
                if (peer.hostInfo().equals(ctx.self())) continue;
                ListSessionsResponse theirs = forwarding
                        .blocking(peer.hostInfo())
                        .listSessions(req.toBuilder().setPageSize(size).build());
                all.addAll(theirs.getSessionsList());
                more |= !theirs.getNextPageToken().isEmpty();
            }
        }
        all.sort(Comparator.comparing(SessionInfo::getSessionId, SessionQueries::keyOrder));
        more |= all.size() > size;
        ListSessionsResponse.Builder b =
                ListSessionsResponse.newBuilder().addAllSessions(all.subList(0, Math.min(size, all.size())));
        if (more && !all.isEmpty())
            b.setNextPageToken(
                    pageTokens.encode(all.get(Math.min(size, all.size()) - 1).getSessionId()));
        return b.build();
    }

    /**
     * Up to {@code n} of the store's sessions after {@code after} that belong to the call's tenant. The store's order
     * (shorter ids first) does not keep a tenant's ids together, so other tenants' are read and skipped.
     */
    private static List<SessionMeta> tenantsSessions(SessionStore store, String after, int n) {
        List<SessionMeta> out = new ArrayList<>();
        String cursor = after;
        while (out.size() < n) {
            List<SessionMeta> batch = store.list(cursor, n);
            for (SessionMeta m : batch) if (Tenants.mine(m.sessionId()) && out.size() < n) out.add(m);
            if (batch.size() < n) break;
            cursor = batch.getLast().sessionId();
        }
        return out;
    }

    /** The store's order: shorter ids first, then by UTF-8 bytes. */
    static int keyOrder(String a, String b) {
        byte[] x = a.getBytes(StandardCharsets.UTF_8), y = b.getBytes(StandardCharsets.UTF_8);
        return x.length != y.length ? Integer.compare(x.length, y.length) : Arrays.compareUnsigned(x, y);
    }

    /** This instance's active partitions' stores, one by one. */
    private List<SessionStore> partitionStores() {
        StartupWait.awaitRunning(ctx.streams()::state, StartupWait.BOUND);
        Set<Integer> partitions = new TreeSet<>();
        for (ThreadMetadata thread : ctx.streams().metadataForLocalThreads()) {
            for (TaskMetadata task : thread.activeTasks())
                partitions.add(task.taskId().partition());
        }
        List<SessionStore> stores = new ArrayList<>();
        for (int p : partitions) {
            stores.add(new SessionStore(new ReadOnlyStreamsBackend(ctx.streams()
                    .store(StoreQueryParameters.fromNameAndType(
                                    RazorTopology.STORE, QueryableStoreTypes.<Bytes, byte[]>keyValueStore())
                            .withPartition(p)))));
        }
        return stores;
    }

    /**
     * This instance's sessions. Its failures (store not queryable, a damaged record) reach the client through
     * {@link StatusMapping}.
     */
    private SessionStore localStore() {
        StartupWait.awaitRunning(ctx.streams()::state, StartupWait.BOUND);
        ReadOnlyKeyValueStore<Bytes, byte[]> store = ctx.streams()
                .store(StoreQueryParameters.fromNameAndType(
                        RazorTopology.STORE, QueryableStoreTypes.<Bytes, byte[]>keyValueStore()));
        return new SessionStore(new ReadOnlyStreamsBackend(store));
    }

    static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
