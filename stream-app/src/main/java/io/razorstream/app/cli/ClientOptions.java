package io.razorstream.app.cli;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.razorstream.app.security.Tenants;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** --target HOST:PORT of a running service and --timeout, the deadline of each call. */
final class ClientOptions {
    @Option(
            names = "--target",
            defaultValue = "localhost:7070",
            paramLabel = "HOST:PORT",
            description = "the service (default: ${DEFAULT-VALUE})")
    String target;

    @Option(
            names = "--timeout",
            paramLabel = "DURATION",
            converter = DurationConverter.class,
            description = "deadline of each call: 500ms, 30s, 2m, 1h or ISO-8601 "
                    + "(PT30S) (default: 60s for chat, 10s for session)")
    Duration timeout;

    @Option(
            names = "--api-key",
            paramLabel = "KEY",
            defaultValue = "${env:RAZORSTREAM_API_KEY}",
            description = "API key, sent as 'authorization: Bearer KEY' (default: "
                    + "$RAZORSTREAM_API_KEY; needed when the service has " + "auth.keys-file)")
    String apiKey;

    @Option(names = "--tls", description = "connect with TLS (trusting the system's CAs, or --ca-file)")
    boolean tls;

    @Option(names = "--ca-file", paramLabel = "PEM", description = "CA certificate(s) to trust for TLS (implies --tls)")
    Path caFile;

    /** The --timeout given, or {@code fallback}. */
    Duration timeout(Duration fallback) {
        return timeout != null ? timeout : fallback;
    }

    ManagedChannel channel() {
        ChannelCredentials creds;
        if (caFile != null) {
            try {
                creds = TlsChannelCredentials.newBuilder()
                        .trustManager(caFile.toFile())
                        .build();
            } catch (IOException e) {
                throw new IllegalArgumentException("--ca-file " + caFile + ": " + e.getMessage());
            }
        } else {
            creds = tls ? TlsChannelCredentials.create() : InsecureChannelCredentials.create();
        }
        ManagedChannelBuilder<?> b = Grpc.newChannelBuilder(checkTarget(target), creds);
        if (apiKey != null && !apiKey.isBlank()) b.intercept(Tenants.sending("Bearer " + apiKey.strip()));
        return b.build();
    }

    private static final Pattern HOST_PORT = Pattern.compile("(\\[[0-9A-Fa-f:.%\\w]+]|[^:/\\[\\]]*):([^:]*)");

    /**
     * A plain HOST:PORT (what users type) must name a host and a port in 1..65535: gRPC would otherwise keep retrying
     * the name resolution of, say, localhost:99999 until the deadline. Targets with a scheme (dns:///host:port,
     * unix:path) are left to gRPC.
     */
    static String checkTarget(String target) {
        if (target == null || target.isBlank())
            throw new IllegalArgumentException("--target is empty: give HOST:PORT, e.g. localhost:7070");
        if (target.contains("/") || target.startsWith("unix:")) return target;
        Matcher m = HOST_PORT.matcher(target);
        if (!m.matches() || m.group(1).isEmpty()) {
            throw new IllegalArgumentException("--target '" + target + "' is not HOST:PORT (e.g. localhost:7070)");
        }
        int port;
        try {
            port = Integer.parseInt(m.group(2));
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException(
                    "--target '" + target + "': the port must be a number from 1 to 65535, got '" + m.group(2) + "'");
        }
        return target;
    }

    /**
     * One line for a failed call, naming the service's address and the status code, e.g. {@code razorstream:
     * localhost:7070: UNAVAILABLE: io exception: Connection refused (is the service running?)}.
     */
    static void report(PrintWriter err, String target, StatusRuntimeException e, Duration deadline, String retryHint) {
        Status s = e.getStatus();
        StringBuilder line =
                new StringBuilder("razorstream: ").append(target).append(": ").append(s.getCode());
        if (s.getDescription() != null) line.append(": ").append(s.getDescription());
        Throwable cause = s.getCause();
        while (cause != null && cause.getCause() != null) cause = cause.getCause();
        if (cause != null
                && cause.getMessage() != null
                && (s.getDescription() == null || !s.getDescription().contains(cause.getMessage()))) {
            line.append(": ").append(cause.getMessage());
        }
        switch (s.getCode()) {
            case UNAVAILABLE ->
                line.append(" (is the service running?")
                        .append(retryHint == null ? "" : " Then " + retryHint)
                        .append(')');
            case DEADLINE_EXCEEDED ->
                line.append(" (no answer within ")
                        .append(format(deadline))
                        .append("; --timeout sets the deadline")
                        .append(retryHint == null ? "" : "; " + retryHint)
                        .append(')');
            default -> {}
        }
        err.println(line);
        err.flush();
    }

    static String format(Duration d) {
        if (d.toMillis() % 1000 != 0) return d.toMillis() + "ms";
        long s = d.toSeconds();
        if (s % 3600 == 0) return s / 3600 + "h";
        if (s % 60 == 0) return s / 60 + "m";
        return s + "s";
    }

    /** 500ms, 30s, 2m, 1h, or an ISO-8601 duration (PT30S); positive. */
    static final class DurationConverter implements picocli.CommandLine.ITypeConverter<Duration> {
        private static final Pattern SIMPLE = Pattern.compile("(\\d{1,9})(ms|s|m|h)");

        @Override
        public Duration convert(String value) {
            String v = value.trim().toLowerCase(Locale.ROOT);
            Duration d;
            Matcher m = SIMPLE.matcher(v);
            if (m.matches()) {
                long n = Long.parseLong(m.group(1));
                d = switch (m.group(2)) {
                    case "ms" -> Duration.ofMillis(n);
                    case "s" -> Duration.ofSeconds(n);
                    case "m" -> Duration.ofMinutes(n);
                    default -> Duration.ofHours(n);
                };
            } else {
                try {
                    d = Duration.parse(value.trim());
                } catch (DateTimeParseException e) {
                    throw new picocli.CommandLine.TypeConversionException(
                            "'" + value + "' is not a duration such as 500ms, 30s, 2m, 1h or PT30S");
                }
            }
            if (d.isNegative() || d.isZero())
                throw new picocli.CommandLine.TypeConversionException("'" + value + "' is not a positive duration");
            return d;
        }
    }
}
