package io.razorstream.app;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import io.razorstream.app.broker.EmbeddedBroker;
import io.razorstream.app.cli.ClientCommandsTest;
import io.razorstream.app.security.ApiKeys;
import io.razorstream.proto.v1.DeleteSessionRequest;
import io.razorstream.proto.v1.GetSessionRequest;
import io.razorstream.proto.v1.ListSessionsRequest;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.SessionInfo;
import org.apache.kafka.streams.state.HostInfo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * API keys, tenants and TLS on one service: a call without a valid key is refused on gRPC, HTTP and the CLI; a tenant
 * cannot read, list or delete another's sessions (they are simply not found); both ports speak TLS only.
 */
@org.junit.jupiter.api.TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SecurityTest {
    static final String KEY_A = "key-of-tenant-acme-0001", KEY_B = "key-of-tenant-globex-02";

    @TempDir
    static Path dir;

    static RazorService service;
    static Path cert, keysFile;

    @BeforeAll
    static void start() throws Exception {
        cert = dir.resolve("cert.pem");
        Path key = dir.resolve("key.pem");
        Process p;
        try {
            p = new ProcessBuilder(
                            "openssl",
                            "req",
                            "-x509",
                            "-newkey",
                            "rsa:2048",
                            "-nodes",
                            "-keyout",
                            key.toString(),
                            "-out",
                            cert.toString(),
                            "-days",
                            "2",
                            "-subj",
                            "/CN=localhost",
                            "-addext",
                            "subjectAltName=DNS:localhost,IP:127.0.0.1")
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            Assumptions.abort("openssl is not installed: no test certificate (" + e.getMessage() + ")");
            return;
        }
        String log = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0)
                .as("openssl: %s", log)
                .isTrue();
        keysFile = Files.writeString(dir.resolve("keys"), "# key tenant\n" + KEY_A + " acme\n" + KEY_B + " globex\n");
        service = Services.start(
                dir.resolve("data"),
                null,
                "razorstream",
                Map.of(
                        "auth.keys-file",
                        keysFile.toString(),
                        "tls.cert-file",
                        cert.toString(),
                        "tls.key-file",
                        key.toString(),
                        "http.port",
                        String.valueOf(EmbeddedBroker.freePort()),
                        "advertised.host",
                        "localhost"));
    }

    @AfterAll
    static void stop() {
        if (service != null) service.close();
    }

    static ManagedChannel tlsChannel() throws Exception {
        return Grpc.newChannelBuilderForAddress(
                        "localhost",
                        service.grpcPort(),
                        TlsChannelCredentials.newBuilder()
                                .trustManager(cert.toFile())
                                .build())
                .build();
    }

    static MemoryServiceGrpc.MemoryServiceBlockingStub stub(ManagedChannel ch, String header) {
        MemoryServiceGrpc.MemoryServiceBlockingStub s =
                MemoryServiceGrpc.newBlockingStub(ch).withDeadlineAfter(2, TimeUnit.MINUTES);
        if (header == null) return s;
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), header);
        return s.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md));
    }

    static void chat(MemoryServiceGrpc.MemoryServiceBlockingStub s, String session, String text) {
        Services.chat(s, session, UUID.randomUUID().toString(), text, 2);
    }

    @Test
    void withoutAValidKeyEveryCallIsRefused() throws Exception {
        ManagedChannel ch = tlsChannel();
        try {
            for (String header : new String[] {null, "Bearer not-a-key-at-all-xx", KEY_A /* no Bearer */}) {
                MemoryServiceGrpc.MemoryServiceBlockingStub s = stub(ch, header);
                assertThat(EmbeddedServiceTest.code(() -> chat(s, "x", "hi")))
                        .as("Chat with %s", header)
                        .isEqualTo(Status.Code.UNAUTHENTICATED);
                assertThat(EmbeddedServiceTest.code(() -> s.getSession(
                                GetSessionRequest.newBuilder().setSessionId("x").build())))
                        .isEqualTo(Status.Code.UNAUTHENTICATED);
                assertThat(EmbeddedServiceTest.code(() -> s.listSessions(ListSessionsRequest.getDefaultInstance())))
                        .isEqualTo(Status.Code.UNAUTHENTICATED);
            }
            // A forwarded call must carry the instances' shared secret (the same keys file gives the same one).
            Metadata forged = new Metadata();
            forged.put(Metadata.Key.of("razorstream-internal", Metadata.ASCII_STRING_MARSHALLER), "guess");
            forged.put(Metadata.Key.of("razorstream-tenant", Metadata.ASCII_STRING_MARSHALLER), "acme");
            assertThat(EmbeddedServiceTest.code(() -> MemoryServiceGrpc.newBlockingStub(ch)
                            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(forged))
                            .listSessions(ListSessionsRequest.getDefaultInstance())))
                    .isEqualTo(Status.Code.UNAUTHENTICATED);
            Metadata vouched = new Metadata();
            vouched.put(
                    Metadata.Key.of("razorstream-internal", Metadata.ASCII_STRING_MARSHALLER),
                    ApiKeys.load(keysFile).internalSecret());
            vouched.put(Metadata.Key.of("razorstream-tenant", Metadata.ASCII_STRING_MARSHALLER), "acme");
            assertThat(EmbeddedServiceTest.code(() -> MemoryServiceGrpc.newBlockingStub(ch)
                            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(vouched))
                            .listSessions(ListSessionsRequest.getDefaultInstance())))
                    .isEqualTo(Status.Code.OK);
        } finally {
            ch.shutdownNow();
        }

        // HTTP: 401 in the OpenAI shape without a key; served with one; /health open.
        HttpClient http = HttpClient.newBuilder().sslContext(trusting(cert)).build();
        String base = "https://localhost:" + service.httpPort();
        HttpResponse<String> none = http.send(
                HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(none.body()).contains("\"type\":\"authentication_error\"");
        HttpResponse<String> chatNone = http.send(
                HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString(
                                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(chatNone.statusCode()).isEqualTo(401);
        HttpResponse<String> ok = http.send(
                HttpRequest.newBuilder(URI.create(base + "/v1/models"))
                        .header("Authorization", "Bearer " + KEY_A)
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(ok.statusCode()).isEqualTo(200);
        HttpResponse<String> chat = http.send(
                HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                        .header("Authorization", "Bearer " + KEY_A)
                        .header("X-Session-Id", "over-http")
                        .POST(HttpRequest.BodyPublishers.ofString(
                                "{\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
        assertThat(http.send(
                                HttpRequest.newBuilder(URI.create(base + "/health"))
                                        .build(),
                                HttpResponse.BodyHandlers.ofString())
                        .statusCode())
                .isEqualTo(200);

        // The CLI: refused without --api-key, served with it.
        String target = "localhost:" + service.grpcPort();
        String[] without = {
            "session", "--target", target, "--ca-file", cert.toString(), "--session", "over-http", "--api-key", ""
        };
        ClientCommandsTest.Run refused = ClientCommandsTest.run(without);
        assertThat(refused.exit()).isNotZero();
        assertThat(refused.err()).contains("UNAUTHENTICATED").contains("--api-key");
        ClientCommandsTest.Run served = ClientCommandsTest.run(
                "session",
                "--target",
                target,
                "--ca-file",
                cert.toString(),
                "--session",
                "over-http",
                "--api-key",
                KEY_A);
        assertThat(served.exit()).as(served.err()).isZero();
        assertThat(served.out()).contains("\"sessionId\": \"over-http\"");
    }

    @Test
    void aTenantSeesOnlyItsOwnSessions() throws Exception {
        ManagedChannel ch = tlsChannel();
        try {
            MemoryServiceGrpc.MemoryServiceBlockingStub a = stub(ch, "Bearer " + KEY_A),
                    b = stub(ch, "Bearer " + KEY_B);
            chat(a, "shared-name", "acme's turn #");
            SessionInfo mine = a.getSession(
                    GetSessionRequest.newBuilder().setSessionId("shared-name").build());
            assertThat(mine.getSessionId()).isEqualTo("shared-name");
            // globex: not found, not listed, not deletable - the same answers as for a session that does not exist
            assertThatThrownBy(() -> b.getSession(GetSessionRequest.newBuilder()
                            .setSessionId("shared-name")
                            .build()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
                        assertThat(e.getStatus().getDescription()).doesNotContain("acme");
                    });
            assertThat(b.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsList())
                    .extracting(SessionInfo::getSessionId)
                    .doesNotContain("shared-name");
            assertThat(b.deleteSession(DeleteSessionRequest.newBuilder()
                                    .setSessionId("shared-name")
                                    .build())
                            .getDeleted())
                    .isFalse();
            assertThat(b.deleteSession(DeleteSessionRequest.newBuilder()
                                    .setSessionId("no-such")
                                    .build())
                            .getDeleted())
                    .isFalse();
            // globex's own session of the same name is another session
            chat(b, "shared-name", "globex's own, longer turn with more words in it #");
            assertThat(b.getSession(GetSessionRequest.newBuilder()
                                    .setSessionId("shared-name")
                                    .build())
                            .getCache()
                            .getTokens())
                    .isNotEqualTo(mine.getCache().getTokens());
            assertThat(a.getSession(GetSessionRequest.newBuilder()
                                    .setSessionId("shared-name")
                                    .build())
                            .getCache()
                            .getTokens())
                    .isEqualTo(mine.getCache().getTokens());
            List<String> listed = a.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsList().stream()
                    .map(SessionInfo::getSessionId)
                    .toList();
            assertThat(listed).contains("shared-name").allMatch(id -> !id.contains("/"));
            assertThat(b.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsList())
                    .extracting(SessionInfo::getSessionId)
                    .containsExactly("shared-name");
        } finally {
            ch.shutdownNow();
        }
    }

    @Test
    void plaintextIsRefusedWhenTlsIsOn() throws Exception {
        ManagedChannel plain = Grpc.newChannelBuilderForAddress(
                        "localhost", service.grpcPort(), InsecureChannelCredentials.create())
                .build();
        try {
            assertThat(EmbeddedServiceTest.code(() -> stub(plain, "Bearer " + KEY_A)
                            .withDeadlineAfter(10, TimeUnit.SECONDS)
                            .listSessions(ListSessionsRequest.getDefaultInstance())))
                    .isEqualTo(Status.Code.UNAVAILABLE);
        } finally {
            plain.shutdownNow();
        }
        HttpClient http = HttpClient.newHttpClient();
        int status;
        try {
            status = http.send(
                            HttpRequest.newBuilder(URI.create("http://localhost:" + service.httpPort() + "/health"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString())
                    .statusCode();
        } catch (IOException e) {
            status = -1; // the connection was dropped: refused too
        }
        assertThat(status).as("plain HTTP to the TLS port").isNotEqualTo(200);
    }

    /**
     * A call that reaches an instance that does not own the session is forwarded over TLS with its tenant, vouched for
     * by the shared secret.
     */
    @Test
    @org.junit.jupiter.api.Order(Integer.MAX_VALUE) // last: the second instance moves partitions about
    void aForwardedCallKeepsItsTenant() throws Exception {
        RazorService second = Services.start(
                dir.resolve("data-2"),
                service.bootstrapServers(),
                "razorstream",
                Map.of(
                        "auth.keys-file",
                        keysFile.toString(),
                        "tls.cert-file",
                        cert.toString(),
                        "tls.key-file",
                        dir.resolve("key.pem").toString(),
                        "advertised.host",
                        "localhost"));
        ManagedChannel ch = tlsChannel();
        try {
            TwoInstancesTest.awaitBothInGroup(service, second);
            HostInfo other = new HostInfo("localhost", second.grpcPort());
            String session = null;
            for (int i = 0; session == null && i < 200; i++)
                if (TwoInstancesTest.owner(service, "acme/fwd-" + i).equals(other)) session = "fwd-" + i;
            assertThat(session)
                    .as("a session of tenant acme owned by the second instance")
                    .isNotNull();
            String id = session;
            MemoryServiceGrpc.MemoryServiceBlockingStub a = stub(ch, "Bearer " + KEY_A),
                    b = stub(ch, "Bearer " + KEY_B);
            chat(a, id, "forwarded turn #"); // reaches the first instance, served by the second
            assertThat(a.getSession(GetSessionRequest.newBuilder()
                                    .setSessionId(id)
                                    .build())
                            .getCache()
                            .getTokens())
                    .isPositive();
            assertThat(a.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsList())
                    .extracting(SessionInfo::getSessionId)
                    .contains(id);
            assertThat(EmbeddedServiceTest.code(() -> b.getSession(
                            GetSessionRequest.newBuilder().setSessionId(id).build())))
                    .isEqualTo(Status.Code.NOT_FOUND);
            assertThat(b.listSessions(ListSessionsRequest.getDefaultInstance()).getSessionsList())
                    .extracting(SessionInfo::getSessionId)
                    .doesNotContain(id);
        } finally {
            ch.shutdownNow();
            second.close();
        }
    }

    static SSLContext trusting(Path pem) throws Exception {
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        try (InputStream in = Files.newInputStream(pem)) {
            ks.setCertificateEntry(
                    "test", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }
}
