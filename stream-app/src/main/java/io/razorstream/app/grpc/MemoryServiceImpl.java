package io.razorstream.app.grpc;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.razorstream.app.security.Tenants;
import io.razorstream.app.turn.TurnValidation;
import io.razorstream.engine.model.ModelConfig;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.AppendTurnsResponse;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.DeleteSessionRequest;
import io.razorstream.proto.v1.DeleteSessionResponse;
import io.razorstream.proto.v1.GetModelRequest;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.HeadRef;
import io.razorstream.proto.v1.HistoryCondition;
import io.razorstream.proto.v1.ListSessionsRequest;
import io.razorstream.proto.v1.ListSessionsResponse;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.ModelInfo;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.Role;
import io.razorstream.proto.v1.RollbackRequest;
import io.razorstream.proto.v1.RollbackResponse;
import io.razorstream.proto.v1.SessionInfo;
import io.razorstream.proto.v1.Turn;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.store.SessionMeta;
import org.apache.kafka.streams.state.HostInfo;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.function.Function;

/**
 * The gRPC MemoryService: each method builds its turn event or query and hands it on. Turns go through the
 * {@link TurnGateway} (the log is the only way into a session); reads through {@link SessionQueries}; a call that
 * reached an instance other than the session's owner is forwarded there; failures become statuses through
 * {@link StatusMapping}.
 */
final class MemoryServiceImpl extends MemoryServiceGrpc.MemoryServiceImplBase {
    private final ServiceContext ctx;
    private final Forwarding forwarding;
    private final TurnGateway gateway;
    private final SessionQueries queries;

    MemoryServiceImpl(ServiceContext ctx, Forwarding forwarding) {
        this.ctx = ctx;
        this.forwarding = forwarding;
        this.gateway = new TurnGateway(ctx);
        this.queries = new SessionQueries(ctx, forwarding);
    }

    /** Role numbers as sent; unset means a user turn (unknown numbers stay, and validation refuses them). */
    private static int roleOrUser(int role) {
        return role == Role.ROLE_UNSPECIFIED_VALUE ? Role.ROLE_USER_VALUE : role;
    }

    // ---- Chat ----

    @Override
    public void chat(ChatRequest req, StreamObserver<ChatResponse> out) {
        try {
            TurnEvent event = ifHistory(
                            TurnEvent.newBuilder()
                                    .setSessionId(Tenants.internal(req.getSessionId()))
                                    .setTurnId(
                                            req.getTurnId().isEmpty()
                                                    ? UUID.randomUUID().toString()
                                                    : req.getTurnId())
                                    .setRoleValue(roleOrUser(req.getRoleValue()))
                                    .setText(req.getText())
                                    .setReply(true)
                                    .setRegenerate(req.getRegenerate())
                                    .setParams(req.getParams())
                                    .setCreatedAtMs(System.currentTimeMillis()),
                            req.hasIfHistory(),
                            req.getIfHistory())
                    .build();
            check(event);
            HostInfo owner = queries.ownerUnlessHere(Tenants.internal(req.getSessionId()));
            if (owner != null) {
                forwarding.async(owner).chat(req, out);
                return;
            }
            ServerCallStreamObserver<ChatResponse> call = (ServerCallStreamObserver<ChatResponse>) out;
            ChatStream stream = new ChatStream(call);
            TurnGateway.Turned turned = gateway.submit(event, stream::delta);
            call.setOnCancelHandler(turned::cancel);
            turned.future().whenComplete((reply, failure) -> {
                if (failure != null) {
                    stream.fail(StatusMapping.of(failure).asRuntimeException());
                } else if (!reply.getError().isEmpty()) {
                    stream.fail(StatusMapping.ofReply(reply).asRuntimeException());
                } else {
                    stream.done(ChatResponse.newBuilder()
                            .setDone(ChatDone.newBuilder()
                                    .setText(reply.getText())
                                    .setPromptTokens(reply.getPromptTokens())
                                    .setCompletionTokens(reply.getCompletionTokens())
                                    .setFinishReason(reply.getFinishReason())
                                    .setCache(reply.getCache())
                                    .setDuplicate(reply.getDuplicate())
                                    .setTurnId(reply.getTurnId())
                                    .setPrefillMicros(reply.getPrefillMicros())
                                    .setDecodeMicros(reply.getDecodeMicros())
                                    .setShiftedTokens(reply.getShiftedTokens())
                                    .addAllRolledBackTurnIds(reply.getRolledBackTurnIdsList())
                                    .setStages(reply.getStages())
                                    .addAllLogprobs(reply.getLogprobsList()))
                            .build());
                }
            });
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    // ---- AppendTurns ----

    @Override
    public void appendTurns(AppendTurnsRequest req, StreamObserver<AppendTurnsResponse> out) {
        try {
            if (req.getTurnsCount() == 0) throw SessionQueries.invalid("no turns to append");
            String base = UUID.randomUUID().toString();
            TurnEvent.Builder batch = TurnEvent.newBuilder()
                    .setSessionId(Tenants.internal(req.getSessionId()))
                    .setCreatedAtMs(System.currentTimeMillis());
            for (int i = 0; i < req.getTurnsCount(); i++) {
                Turn t = req.getTurns(i);
                batch.addTurns(t.toBuilder()
                        .setTurnId(t.getTurnId().isEmpty() ? base + "-" + i : t.getTurnId())
                        .setRoleValue(roleOrUser(t.getRoleValue())));
            }
            TurnEvent event = ifHistory(
                            batch.setTurnId(batchId(batch.getTurnsList())), req.hasIfHistory(), req.getIfHistory())
                    .build();
            check(event);
            if (forwardedToOwner(Tenants.internal(req.getSessionId()), out, stub -> stub.appendTurns(req))) return;
            // One event: the owner applies every turn or none.
            ReplyEvent r = gateway.await(gateway.submit(event, null));
            if (!r.getError().isEmpty()) throw StatusMapping.ofReply(r).asRuntimeException();
            out.onNext(AppendTurnsResponse.newBuilder()
                    .setAppended(r.getTurnsApplied())
                    .setCache(r.getCache())
                    .setPrefillMicros(r.getPrefillMicros())
                    .setPromptTokens(r.getPromptTokens())
                    .build());
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    /** A batch's id follows from its turn ids: a retried AppendTurns sends the same event again, reply included. */
    static String batchId(List<Turn> turns) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (Turn t : turns) sha.update((t.getTurnId() + "\n").getBytes(StandardCharsets.UTF_8));
            return "batch-" + HexFormat.of().formatHex(sha.digest(), 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- Rollback ----

    @Override
    public void rollback(RollbackRequest req, StreamObserver<RollbackResponse> out) {
        try {
            if (req.getTurns() < 1) throw SessionQueries.invalid("turns must be >= 1, got " + req.getTurns());
            TurnEvent event = ifHistory(
                            TurnEvent.newBuilder()
                                    .setSessionId(Tenants.internal(req.getSessionId()))
                                    .setTurnId(
                                            req.getTurnId().isEmpty()
                                                    ? "rollback-" + UUID.randomUUID()
                                                    : req.getTurnId())
                                    .setRollbackTurns(req.getTurns())
                                    .setCreatedAtMs(System.currentTimeMillis()),
                            req.hasIfHistory(),
                            req.getIfHistory())
                    .build();
            check(event);
            if (forwardedToOwner(Tenants.internal(req.getSessionId()), out, stub -> stub.rollback(req))) return;
            ReplyEvent r = gateway.await(gateway.submit(event, null));
            if (!r.getError().isEmpty()) throw StatusMapping.ofReply(r).asRuntimeException();
            out.onNext(RollbackResponse.newBuilder()
                    .addAllTurnIds(r.getRolledBackTurnIdsList())
                    .setCache(r.getCache())
                    .setDuplicate(r.getDuplicate())
                    .build());
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    // ---- DeleteSession ----

    @Override
    public void deleteSession(DeleteSessionRequest req, StreamObserver<DeleteSessionResponse> out) {
        try {
            TurnEvent e = TurnEvent.newBuilder()
                    .setSessionId(Tenants.internal(req.getSessionId()))
                    .setTurnId("delete-" + UUID.randomUUID())
                    .setDeleteSession(true)
                    .setCreatedAtMs(System.currentTimeMillis())
                    .build();
            check(e);
            if (forwardedToOwner(Tenants.internal(req.getSessionId()), out, stub -> stub.deleteSession(req))) return;
            ReplyEvent r = gateway.await(gateway.submit(e, null));
            out.onNext(DeleteSessionResponse.newBuilder()
                    .setDeleted(!r.getDuplicate())
                    .build());
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    // ---- GetSession, ListSessions, GetModel ----

    @Override
    public void getSession(GetSessionRequest req, StreamObserver<SessionInfo> out) {
        try {
            String problem = TurnValidation.sessionIdProblem(Tenants.internal(req.getSessionId()));
            if (problem != null) throw SessionQueries.invalid(problem);
            if (forwardedToOwner(Tenants.internal(req.getSessionId()), out, stub -> stub.getSession(req))) return;
            SessionMeta meta = queries.meta(Tenants.internal(req.getSessionId()))
                    .orElseThrow(() -> Status.NOT_FOUND
                            .withDescription("no session '" + req.getSessionId() + "'")
                            .asRuntimeException());
            SessionInfo info = req.getIncludeRecentTurns() ? queries.infoWithRecentTurns(meta) : queries.info(meta);
            out.onNext(
                    Forwarding.forwarded()
                            ? info
                            : info.toBuilder()
                                    .setSessionId(Tenants.external(info.getSessionId()))
                                    .build());
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    @Override
    public void listSessions(ListSessionsRequest req, StreamObserver<ListSessionsResponse> out) {
        try {
            ListSessionsResponse page = queries.page(req);
            if (!Forwarding.forwarded()) { // the caller knows its sessions by their own ids
                ListSessionsResponse.Builder b = page.toBuilder().clearSessions();
                for (SessionInfo i : page.getSessionsList())
                    b.addSessions(i.toBuilder().setSessionId(Tenants.external(i.getSessionId())));
                page = b.build();
            }
            out.onNext(page);
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    @Override
    public void getModel(GetModelRequest req, StreamObserver<ModelInfo> out) {
        ModelConfig c = ctx.model().loaded().model().config();
        ModelInfo.Builder b = ModelInfo.newBuilder()
                .setName(ctx.model().path().getFileName().toString())
                .setArchitecture(c.architecture())
                .setFingerprint(ctx.model().fingerprint())
                .setLayers(c.blockCount())
                .setKvHeads(c.kvHeadCount())
                .setHeadSize(c.headSize())
                .setContextLength(c.contextLength())
                .setProfileFingerprint(ctx.model().profileFingerprint())
                .setWindowSinks(ctx.model().window().sinks())
                .setWindowMin(ctx.model().window().minWindow())
                .setWindowCompression(ctx.model().window().compression())
                .setKvPrecision(ctx.model().precision().name());
        boolean[][] r = ctx.model().retrieval();
        for (int l = 0; l < r.length; l++)
            for (int h = 0; h < r[l].length; h++)
                if (r[l][h])
                    b.addRetrievalHeads(HeadRef.newBuilder().setLayer(l).setKvHead(h));
        out.onNext(b.build());
        out.onCompleted();
    }

    // ---- plumbing ----

    /** The event with the request's history condition, when it has one. */
    private static TurnEvent.Builder ifHistory(TurnEvent.Builder event, boolean has, HistoryCondition condition) {
        return has ? event.setIfHistory(condition) : event;
    }

    /** Answers the call from the session's owner when that is another instance; false to handle it here. */
    private <T> boolean forwardedToOwner(
            String sessionId, StreamObserver<T> out, Function<MemoryServiceGrpc.MemoryServiceBlockingStub, T> call) {
        HostInfo owner = queries.ownerUnlessHere(sessionId);
        if (owner == null) return false;
        out.onNext(call.apply(forwarding.blocking(owner)));
        out.onCompleted();
        return true;
    }

    private void check(TurnEvent e) {
        String problem = TurnValidation.problem(e, ctx.maxTextBytes(), ctx.maxReplyTokens());
        if (problem != null) throw SessionQueries.invalid(problem);
    }
}
