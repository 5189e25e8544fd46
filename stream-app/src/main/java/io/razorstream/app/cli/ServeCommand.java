package io.razorstream.app.cli;

import io.razorstream.app.RazorService;
import io.razorstream.app.config.ServiceConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(
        name = "serve",
        mixinStandardHelpOptions = true,
        abbreviateSynopsis = true,
        description = {
            "Run the memory service: Kafka Streams session processing, the session store and the gRPC API.",
            "With no --bootstrap-servers it starts an embedded Kafka "
                    + "broker in the data dir; with no --model it serves the "
                    + "synthetic retrieval model (generated on first start). "
                    + "Settings: defaults < --config file < RAZORSTREAM_* "
                    + "environment variables < flags; --settings lists them all."
        })
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(
            names = "--config",
            paramLabel = "FILE",
            description = "properties file with settings (keys as listed by --settings)")
    Path config;

    @Option(names = "--model", paramLabel = "FILE", description = "GGUF model (default: the synthetic retrieval model)")
    String model;

    @Option(
            names = "--profile",
            paramLabel = "FILE",
            description = "head profile of the model (default: MODEL.heads.json, made if missing)")
    String profile;

    @Option(
            names = "--bootstrap-servers",
            paramLabel = "HOST:PORT,...",
            description = "Kafka cluster (default: an embedded broker)")
    String bootstrap;

    @Option(names = "--grpc-port", paramLabel = "PORT", description = "gRPC port (default: 7070)")
    String grpcPort;

    @Option(
            names = "--http-port",
            paramLabel = "PORT",
            description = "OpenAI-compatible HTTP port, with /metrics (default: 8080; 0: off)")
    String httpPort;

    @Option(
            names = "--bind",
            paramLabel = "ADDRESS",
            description = "address gRPC and HTTP listen on (default: 127.0.0.1 with the embedded broker, else 0.0.0.0)")
    String bind;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "state directory (default: razorstream-data)")
    String dataDir;

    @Option(
            names = "--advertised-host",
            paramLabel = "HOST",
            description = "host other instances reach this one at (default: localhost)")
    String advertisedHost;

    @Option(
            names = "--set",
            paramLabel = "KEY=VALUE",
            description = "any other setting, e.g. --set kv.precision=Q8 (repeatable)")
    Map<String, String> extra = new LinkedHashMap<>();

    @Option(names = "--settings", description = "list every setting with its default and exit")
    boolean listSettings;

    @Override
    public Integer call() throws Exception {
        if (listSettings) {
            ServiceConfig.KEYS.forEach((k, v) -> spec.commandLine()
                    .getOut()
                    .printf(
                            "%-26s %-28s %s (env %s)%n",
                            k, v[0].isEmpty() ? "\"\"" : v[0], v[1], ServiceConfig.envName(k)));
            spec.commandLine().getOut().flush();
            return 0;
        }
        Map<String, String> flags = new LinkedHashMap<>(extra);
        put(flags, "model", model);
        put(flags, "profile", profile);
        put(flags, "bootstrap.servers", bootstrap);
        put(flags, "grpc.port", grpcPort);
        put(flags, "http.port", httpPort);
        put(flags, "bind", bind);
        put(flags, "data.dir", dataDir);
        put(flags, "advertised.host", advertisedHost);
        ServiceConfig c = ServiceConfig.load(config, System.getenv(), flags);
        for (String w : c.warnings()) spec.commandLine().getErr().println("razorstream: warning: " + w);
        spec.commandLine().getErr().flush();
        CountDownLatch stopped = new CountDownLatch(1);
        RazorService service = RazorService.start(c);
        // SIGTERM / Ctrl-C: stop accepting calls, let turns in flight finish, close Streams and the broker cleanly.
        Thread hook = new Thread(
                () -> {
                    System.err.println("razorstream: shutting down...");
                    service.close();
                    stopped.countDown();
                },
                "razorstream-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        if (!service.awaitServing()) {
            System.err.println("razorstream: stream processing stopped (see the log above); shutting down");
            return 1;
        }
        System.err.printf(
                "razorstream: serving on port %d (gRPC)%s, Kafka at %s. "
                        + "Try:%n  bin/razorstream chat --target localhost:%d " + "--session demo%n",
                service.grpcPort(),
                service.httpPort() == 0
                        ? ""
                        : " and " + service.httpPort() + " (HTTP: OpenAI /v1/chat/completions, /metrics)",
                service.bootstrapServers(),
                service.grpcPort());
        stopped.await();
        return 0;
    }

    private static void put(Map<String, String> flags, String key, String value) {
        if (value != null) flags.put(key, value);
    }
}
