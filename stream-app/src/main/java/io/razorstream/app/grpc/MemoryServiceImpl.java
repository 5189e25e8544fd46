package io.razorstream.app.grpc;

import io.razorstream.app.stream.CacheFigures;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.razorstream.app.stream.RazorTopology;
import io.razorstream.app.stream.TokenRouter;
import io.razorstream.app.turn.TurnValidation;
import io.razorstream.engine.llama.LlamaConfig;
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
import io.razorstream.proto.v1.ListSessionsRequest;
import io.razorstream.proto.v1.ListSessionsResponse;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.ModelInfo;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.Role;
import io.razorstream.proto.v1.SessionInfo;
import io.razorstream.proto.v1.Turn;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.store.ReadOnlyStreamsBackend;
import io.razorstream.store.SessionMeta;
import io.razorstream.store.SessionStore;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyQueryMetadata;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsMetadata;
import org.apache.kafka.streams.state.HostInfo;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The gRPC MemoryService. Turns become TurnEvents on the turns topic (the log is the only way into a
 * session); a call waits for its turn on the instance that owns the session, and is forwarded there when
 * it reached another one. Reads (GetSession, ListSessions) query the owners' stores.
 */
final class MemoryServiceImpl extends MemoryServiceGrpc.MemoryServiceImplBase {
    private final ServiceContext ctx;
    private final Forwarding forwarding;
    private final PageTokens pageTokens;

    MemoryServiceImpl(ServiceContext ctx, Forwarding forwarding) {
        this.ctx = ctx;
        this.forwarding = forwarding;
        this.pageTokens = new PageTokens(ctx.applicationId());
    }

    /** Role numbers as sent; unset means a user turn (unknown numbers stay, and validation refuses them). */
    private static int roleOrUser(int role) {
        return role == Role.ROLE_UNSPECIFIED_VALUE ? Role.ROLE_USER_VALUE : role;
    }

    // ---- Chat ----

    @Override
    public void chat(ChatRequest req, StreamObserver<ChatResponse> out) {
        try {
            TurnEvent event = TurnEvent.newBuilder().setSessionId(req.getSessionId())
                    .setTurnId(req.getTurnId().isEmpty() ? UUID.randomUUID().toString() : req.getTurnId())
                    .setRoleValue(roleOrUser(req.getRoleValue())).setText(req.getText())
                    .setReply(true).setParams(req.getParams()).setCreatedAtMs(System.currentTimeMillis()).build();
            check(event);
            HostInfo owner = ownerUnlessHere(req.getSessionId());
            if (owner != null) {
                forwarding.async(owner).chat(req, out);
                return;
            }
            ServerCallStreamObserver<ChatResponse> call = (ServerCallStreamObserver<ChatResponse>) out;
            ChatStream stream = new ChatStream(call);
            Turned turned = submit(event, new TokenRouter.Waiter() {
                @Override
                public void delta(String text) {
                    stream.delta(text);
                }

                @Override
                public void done(ReplyEvent reply) {}
            });
            call.setOnCancelHandler(turned::cancel);
            turned.future.whenComplete((reply, failure) -> {
                if (failure != null) {
                    stream.fail(StatusMapping.of(failure).asRuntimeException());
                } else if (!reply.getError().isEmpty()) {
                    stream.fail(errorStatus(reply).asRuntimeException());
                } else {
                    stream.done(ChatResponse.newBuilder().setDone(ChatDone.newBuilder().setText(reply.getText())
                            .setPromptTokens(reply.getPromptTokens()).setCompletionTokens(reply.getCompletionTokens())
                            .setFinishReason(reply.getFinishReason()).setCache(reply.getCache()).setDuplicate(reply.getDuplicate())
                            .setTurnId(reply.getTurnId()).setPrefillMicros(reply.getPrefillMicros()).setDecodeMicros(reply.getDecodeMicros())).build());
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
            if (req.getTurnsCount() == 0) throw invalid("no turns to append");
            String base = UUID.randomUUID().toString();
            TurnEvent.Builder batch = TurnEvent.newBuilder().setSessionId(req.getSessionId()).setCreatedAtMs(System.currentTimeMillis());
            for (int i = 0; i < req.getTurnsCount(); i++) {
                Turn t = req.getTurns(i);
                batch.addTurns(t.toBuilder().setTurnId(t.getTurnId().isEmpty() ? base + "-" + i : t.getTurnId()).setRoleValue(roleOrUser(t.getRoleValue())));
            }
            TurnEvent event = batch.setTurnId(batchId(batch.getTurnsList())).build();
            check(event);
            HostInfo owner = ownerUnlessHere(req.getSessionId());
            if (owner != null) {
                out.onNext(forwarding.blocking(owner).appendTurns(req));
                out.onCompleted();
                return;
            }
            // One event: the owner applies every turn or none.
            ReplyEvent r = await(submit(event, null));
            if (!r.getError().isEmpty()) throw errorStatus(r).asRuntimeException();
            out.onNext(AppendTurnsResponse.newBuilder().setAppended(r.getTurnsApplied()).setCache(r.getCache()).setPrefillMicros(r.getPrefillMicros()).build());
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    /** A batch's id follows from its turn ids: a retried AppendTurns sends the same event again, reply included. */
    static String batchId(List<Turn> turns) {
        try {
            java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            for (Turn t : turns) sha.update((t.getTurnId() + "\n").getBytes(StandardCharsets.UTF_8));
            return "batch-" + java.util.HexFormat.of().formatHex(sha.digest(), 0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- DeleteSession ----

    @Override
    public void deleteSession(DeleteSessionRequest req, StreamObserver<DeleteSessionResponse> out) {
        try {
            TurnEvent e = TurnEvent.newBuilder().setSessionId(req.getSessionId()).setTurnId("delete-" + UUID.randomUUID())
                    .setDeleteSession(true).setCreatedAtMs(System.currentTimeMillis()).build();
            check(e);
            HostInfo owner = ownerUnlessHere(req.getSessionId());
            if (owner != null) {
                out.onNext(forwarding.blocking(owner).deleteSession(req));
            } else {
                ReplyEvent r = await(submit(e, null));
                out.onNext(DeleteSessionResponse.newBuilder().setDeleted(!r.getDuplicate()).build());
            }
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    // ---- GetSession, ListSessions ----

    @Override
    public void getSession(GetSessionRequest req, StreamObserver<SessionInfo> out) {
        try {
            String problem = TurnValidation.sessionIdProblem(req.getSessionId());
            if (problem != null) throw invalid(problem);
            HostInfo owner = ownerUnlessHere(req.getSessionId());
            if (owner != null) {
                out.onNext(forwarding.blocking(owner).getSession(req));
            } else {
                SessionMeta meta = localStore().meta(req.getSessionId())
                        .orElseThrow(() -> Status.NOT_FOUND.withDescription("no session '" + req.getSessionId() + "'").asRuntimeException());
                out.onNext(info(meta));
            }
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    @Override
    public void listSessions(ListSessionsRequest req, StreamObserver<ListSessionsResponse> out) {
        try {
            if (req.getPageSize() < 0) throw invalid("page_size must be >= 0");
            String after = req.getPageToken().isEmpty() ? null : pageTokens.decode(req.getPageToken());
            if (!req.getPageToken().isEmpty() && after == null) throw invalid("page_token is not one this service gave out");
            int size = req.getPageSize() == 0 ? 50 : Math.min(req.getPageSize(), 1000);
            List<SessionInfo> all = new ArrayList<>();
            for (SessionMeta m : localStore().list(after, Integer.MAX_VALUE)) all.add(info(m));
            if (!Forwarding.forwarded()) {
                for (StreamsMetadata peer : ctx.streams().metadataForAllStreamsClients()) {
                    if (peer.hostInfo().equals(ctx.self())) continue;
                    all.addAll(forwarding.blocking(peer.hostInfo()).listSessions(req.toBuilder().setPageSize(size).build()).getSessionsList());
                }
            }
            all.sort(Comparator.comparing(SessionInfo::getSessionId, MemoryServiceImpl::keyOrder));
            ListSessionsResponse.Builder b = ListSessionsResponse.newBuilder().addAllSessions(all.subList(0, Math.min(size, all.size())));
            if (all.size() > size) b.setNextPageToken(pageTokens.encode(all.get(size - 1).getSessionId()));
            out.onNext(b.build());
            out.onCompleted();
        } catch (StatusRuntimeException e) {
            out.onError(e);
        }
    }

    /** The store's order: shorter ids first, then by UTF-8 bytes. */
    static int keyOrder(String a, String b) {
        byte[] x = a.getBytes(StandardCharsets.UTF_8), y = b.getBytes(StandardCharsets.UTF_8);
        return x.length != y.length ? Integer.compare(x.length, y.length) : Arrays.compareUnsigned(x, y);
    }

    @Override
    public void getModel(GetModelRequest req, StreamObserver<ModelInfo> out) {
        LlamaConfig c = ctx.model().loaded().model().config();
        ModelInfo.Builder b = ModelInfo.newBuilder().setName(ctx.model().path().getFileName().toString()).setArchitecture(c.architecture())
                .setFingerprint(ctx.model().fingerprint()).setLayers(c.blockCount()).setKvHeads(c.kvHeadCount()).setHeadSize(c.headSize())
                .setContextLength(c.contextLength()).setProfileFingerprint(ctx.model().profileFingerprint())
                .setWindowSinks(ctx.model().window().sinks()).setWindowMin(ctx.model().window().minWindow())
                .setWindowCompression(ctx.model().window().compression()).setKvPrecision(ctx.model().precision().name());
        boolean[][] r = ctx.model().retrieval();
        for (int l = 0; l < r.length; l++) for (int h = 0; h < r[l].length; h++) if (r[l][h]) b.addRetrievalHeads(HeadRef.newBuilder().setLayer(l).setKvHead(h));
        out.onNext(b.build());
        out.onCompleted();
    }

    // ---- plumbing ----

    private SessionInfo info(SessionMeta m) {
        int hs = ctx.model().loaded().model().config().headSize();
        return SessionInfo.newBuilder().setSessionId(m.sessionId())
                .setCache(CacheFigures.of(m.tokens(), m.kvBytes(hs), m.fullKvBytes(hs)))
                .setLastActivityMs(m.lastActivityMillis()).setTurnsRemembered((int) Math.min(Integer.MAX_VALUE, m.turnsApplied()))
                .setModelFingerprint(m.modelFingerprint()).setProfileFingerprint(m.profileFingerprint()).build();
    }

    /** This instance's sessions. Its failures (store not queryable, a damaged record) reach the client through {@link StatusMapping}. */
    private SessionStore localStore() {
        ReadOnlyKeyValueStore<Bytes, byte[]> store = ctx.streams().store(
                StoreQueryParameters.fromNameAndType(RazorTopology.STORE, QueryableStoreTypes.<Bytes, byte[]>keyValueStore()));
        return new SessionStore(new ReadOnlyStreamsBackend(store));
    }

    private void check(TurnEvent e) {
        String problem = TurnValidation.problem(e, ctx.maxTextBytes(), ctx.maxReplyTokens());
        if (problem != null) throw invalid(problem);
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    /** The owner of the session when that is another instance and this call was not forwarded; null to handle it here. */
    private HostInfo ownerUnlessHere(String sessionId) {
        if (Forwarding.forwarded()) return null;
        KeyQueryMetadata md = ctx.streams().queryMetadataForKey(RazorTopology.STORE, sessionId, Serdes.String().serializer());
        if (md == null || md.equals(KeyQueryMetadata.NOT_AVAILABLE)) {
            throw Status.UNAVAILABLE.withDescription("the owner of session '" + sessionId + "' is not known right now (starting or rebalancing); retry").asRuntimeException();
        }
        return md.activeHost().equals(ctx.self()) ? null : md.activeHost();
    }

    /** A turn sent to the log, and the future of its reply on this instance. */
    private record Turned(CompletableFuture<ReplyEvent> future, Runnable onCancel) {
        void cancel() {
            onCancel.run();
        }
    }

    private Turned submit(TurnEvent event, TokenRouter.Waiter deltas) {
        CompletableFuture<ReplyEvent> future = new CompletableFuture<>();
        AtomicBoolean finished = new AtomicBoolean();
        TokenRouter router = ctx.router();
        TokenRouter.Waiter waiter = new TokenRouter.Waiter() {
            @Override
            public void delta(String text) {
                if (deltas != null && !finished.get()) deltas.delta(text);
            }

            @Override
            public void done(ReplyEvent reply) {
                if (finished.compareAndSet(false, true)) {
                    router.unregister(event.getSessionId(), event.getTurnId(), this);
                    future.complete(reply);
                }
            }
        };
        Runnable cancel = () -> {
            if (finished.compareAndSet(false, true)) router.unregister(event.getSessionId(), event.getTurnId(), waiter);
        };
        if (!router.register(event.getSessionId(), event.getTurnId(), waiter)) {
            throw Status.ALREADY_EXISTS.withDescription("another call already waits for turn '" + event.getTurnId() + "' of session '"
                    + event.getSessionId() + "'").asRuntimeException();
        }
        ctx.timer().schedule(() -> {
            if (finished.compareAndSet(false, true)) {
                router.unregister(event.getSessionId(), event.getTurnId(), waiter);
                future.completeExceptionally(Status.DEADLINE_EXCEEDED.withDescription("turn '" + event.getTurnId() + "' was not processed within "
                        + ctx.turnTimeout() + "; send it again with the same turn id (it is applied at most once)").asRuntimeException());
            }
        }, ctx.turnTimeout().toMillis(), TimeUnit.MILLISECONDS);
        ctx.producer().send(new ProducerRecord<>(ctx.turnsTopic(), event.getSessionId(), event.toByteArray()), (md, e) -> {
            if (e != null && finished.compareAndSet(false, true)) {
                router.unregister(event.getSessionId(), event.getTurnId(), waiter);
                future.completeExceptionally(Status.UNAVAILABLE.withDescription("cannot write the turn to Kafka: " + e.getMessage()).withCause(e).asRuntimeException());
            }
        });
        return new Turned(future, cancel);
    }

    private ReplyEvent await(Turned t) {
        try {
            return t.future().get(ctx.turnTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw StatusMapping.of(e.getCause()).asRuntimeException();
        } catch (TimeoutException e) {
            throw Status.DEADLINE_EXCEEDED.withDescription("turn not processed in time").asRuntimeException();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
    }

    private static Status errorStatus(ReplyEvent r) {
        Status.Code code;
        try {
            code = Status.Code.valueOf(r.getErrorCode());
        } catch (IllegalArgumentException e) {
            code = Status.Code.INTERNAL;
        }
        return Status.fromCode(code).withDescription(r.getError());
    }

}
