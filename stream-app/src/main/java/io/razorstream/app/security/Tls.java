package io.razorstream.app.security;

import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import org.eclipse.jetty.util.ssl.SslContextFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * TLS for the gRPC and HTTP ports from PEM files: a certificate chain and its PKCS#8 private key ({@code BEGIN PRIVATE
 * KEY}, RSA or EC; {@code openssl genpkey} writes it), and the CA that instances trust when they call each other
 * (default: the certificate itself, for a self-signed one). With TLS on, the ports speak nothing else.
 */
public final class Tls {
    private static final Pattern PEM_KEY =
            Pattern.compile("-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\\s]+)-----END PRIVATE KEY-----");

    private final Path cert, key, ca;
    private final PrivateKey privateKey;
    private final List<? extends Certificate> chain;

    private Tls(Path cert, Path key, Path ca) {
        this.cert = cert;
        this.key = key;
        this.ca = ca;
        this.chain = certificates(cert, "tls.cert-file");
        if (ca != cert) certificates(ca, "tls.ca-file");
        this.privateKey = privateKey(key);
    }

    /**
     * TLS from the given files (checked now, each problem naming its file), or null when {@code cert} and {@code key}
     * are both unset.
     */
    public static Tls of(Path cert, Path key, Path ca) {
        if (cert == null && key == null) {
            if (ca != null)
                throw new IllegalArgumentException("setting tls.ca-file is set without tls.cert-file and tls.key-file");
            return null;
        }
        if (cert == null || key == null)
            throw new IllegalArgumentException(
                    "settings tls.cert-file and tls.key-file go together: set both or neither");
        return new Tls(cert, key, ca == null ? cert : ca);
    }

    public ServerCredentials grpcServer() {
        try {
            return TlsServerCredentials.create(cert.toFile(), key.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("TLS: " + e.getMessage(), e);
        }
    }

    /** What an instance uses to call another (forwarding): it trusts the CA file. */
    public ChannelCredentials grpcClient() {
        try {
            return TlsChannelCredentials.newBuilder().trustManager(ca.toFile()).build();
        } catch (IOException e) {
            throw new IllegalArgumentException("setting tls.ca-file: cannot read " + ca + ": " + e.getMessage(), e);
        }
    }

    public static ServerCredentials grpcServer(Tls tls) {
        return tls == null ? InsecureServerCredentials.create() : tls.grpcServer();
    }

    public static ChannelCredentials grpcClient(Tls tls) {
        return tls == null ? InsecureChannelCredentials.create() : tls.grpcClient();
    }

    /** Jetty's server side, from the same PEM files. */
    public SslContextFactory.Server jetty() {
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            char[] password = new char[0];
            store.setKeyEntry("razorstream", privateKey, password, chain.toArray(new Certificate[0]));
            SslContextFactory.Server f = new SslContextFactory.Server();
            f.setKeyStore(store);
            f.setKeyStorePassword("");
            f.setKeyManagerPassword("");
            return f;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException("TLS: cannot use " + cert + " with " + key + ": " + e.getMessage(), e);
        }
    }

    private static List<? extends Certificate> certificates(Path file, String setting) {
        try (InputStream in = Files.newInputStream(file)) {
            List<? extends Certificate> certs =
                    List.copyOf(CertificateFactory.getInstance("X.509").generateCertificates(in));
            if (certs.isEmpty())
                throw new IllegalArgumentException("setting " + setting + ": " + file + " holds no PEM certificate");
            return certs;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException(
                    "setting " + setting + ": " + file + " is not a readable PEM certificate: " + e.getMessage(), e);
        }
    }

    private static PrivateKey privateKey(Path file) {
        String pem;
        try {
            pem = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalArgumentException("setting tls.key-file: cannot read " + file + ": " + e.getMessage(), e);
        }
        Matcher m = PEM_KEY.matcher(pem);
        if (!m.find()) {
            throw new IllegalArgumentException(
                    "setting tls.key-file: " + file + " holds no PKCS#8 'BEGIN PRIVATE KEY' block (convert with: "
                            + "openssl pkcs8 -topk8 -nocrypt -in KEY)");
        }
        byte[] der = Base64.getMimeDecoder().decode(m.group(1));
        for (String algorithm : new String[] {"RSA", "EC", "Ed25519"}) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException tryNext) {
                // not this algorithm
            }
        }
        throw new IllegalArgumentException("setting tls.key-file: " + file + ": not an RSA, EC or Ed25519 private key");
    }
}
