package io.razorstream.app;

import io.razorstream.app.broker.EmbeddedBroker;
import io.razorstream.app.config.ServiceConfig;
import io.razorstream.app.config.ServiceSettings;
import io.razorstream.app.grpc.GrpcServer;
import io.razorstream.app.grpc.ServiceContext;
import io.razorstream.app.http.HttpApi;
import io.razorstream.app.metrics.ServiceMetrics;
import io.razorstream.app.model.ServedModel;
import io.razorstream.app.security.Tenants;
import io.razorstream.app.stream.CommittedReplies;
import io.razorstream.app.stream.DamagedSessions;
import io.razorstream.app.stream.RazorTopology;
import io.razorstream.app.stream.TokenRouter;
import io.razorstream.app.stream.TurnSlots;
import io.razorstream.app.turn.TurnRunner;
import io.razorstream.engine.kernel.Kernels;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.store.HotSessions;
import io.razorstream.store.SessionStores;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.LogAndFailProcessingExceptionHandler;
import org.apache.kafka.streams.state.HostInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * One running instance: the model, the Kafka Streams topology with the session store, the gRPC server, and (with no
 * bootstrap servers configured) the embedded broker. {@link #close} shuts down in the reverse order: stop accepting
 * calls, let turns in flight finish, close Streams, then the broker.
 */
public final class RazorService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RazorService.class);

    private final List<AutoCloseable> closeInOrder = new ArrayList<>();
    private final KafkaStreams streams;
    private final String bootstrap;
    private final int grpcPort, httpPort;

    private RazorService(KafkaStreams streams, String bootstrap, int grpcPort, int httpPort) {
        this.streams = streams;
        this.bootstrap = bootstrap;
        this.grpcPort = grpcPort;
        this.httpPort = httpPort;
    }

    public static RazorService start(ServiceConfig config) throws Exception {
        ServiceSettings s = ServiceSettings.parse(config); // every setting checked before anything starts
        List<AutoCloseable> resources = new ArrayList<>();
        try {
            Files.createDirectories(s.dataDir());
            log.info("engine: {}, {} threads", Kernels.select(s.kernels()), s.engineThreads());
            Parallel parallel = new Parallel(s.engineThreads());
            resources.add(parallel);
            ServedModel model = ServedModel.open(s, parallel);
            resources.add(model);
            log.info(
                    "model {}: {} of {} KV heads keep their full cache, window {}, {} cache",
                    model.path().getFileName(),
                    model.retrievalCount(),
                    model.retrieval().length * model.retrieval()[0].length,
                    model.window(),
                    model.precision());

            String bootstrap = s.bootstrapServers();
            boolean embedded = bootstrap.isEmpty();
            if (embedded) {
                EmbeddedBroker broker = EmbeddedBroker.start(s.dataDir().resolve("kafka"), Duration.ofSeconds(90));
                resources.add(broker);
                bootstrap = broker.bootstrapServers();
            }
            int turnPartitions = ensureTopics(s, bootstrap);

            int port = s.grpcPort();
            if (port == 0) port = EmbeddedBroker.freePort();
            HostInfo self = new HostInfo(s.advertisedHost(), port);
            InstanceIdentity identity = InstanceIdentity.resolve(s.instanceId(), s.dataDir(), s.applicationId());
            identity.pinStreamsProcessId(s.dataDir().resolve("streams"), s.applicationId());
            log.info("instance id {} (Kafka Streams process id {})", identity.instanceId(), identity.processId());
            TokenRouter router = new TokenRouter();
            HotSessions hot = new HotSessions(s.hotBytes());
            RazorTopology.Settings settings = new RazorTopology.Settings(
                    s.turnsTopic(),
                    s.reroutedTopic(),
                    turnPartitions,
                    s.repliesTopic(),
                    s.deadLetterTopic(),
                    s.blockTokens(),
                    s.turnMaxBytes(),
                    s.replyMaxTokens(),
                    s.replyDefaultTokens(),
                    s.sessionTtl(),
                    s.expiryInterval(),
                    s.jsonTurnLog());
            TurnRunner runner = new TurnRunner(model, parallel, s.maxSessionTokens(), s.overflow(), s.undoTurns());
            ServiceMetrics metrics = new ServiceMetrics();
            metrics.watch(hot);
            TurnSlots slots = new TurnSlots(s.maxTurnsInFlight());
            resources.add(slots); // closed after Streams (whose tasks stop their turns first)
            metrics.watchTurns(slots::inFlight, slots.max());
            KafkaStreams streams = new KafkaStreams(
                    RazorTopology.build(settings, model, runner, slots, hot, router, new DamagedSessions(), metrics),
                    streamsProperties(s, bootstrap, self, identity, embedded));
            streams.setUncaughtExceptionHandler(new ThreadFailures());

            Producer<String, byte[]> producer = new KafkaProducer<>(
                    Map.of(
                            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                            bootstrap,
                            ProducerConfig.ACKS_CONFIG,
                            "all",
                            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG,
                            true,
                            ProducerConfig.LINGER_MS_CONFIG,
                            0),
                    new StringSerializer(),
                    new ByteArraySerializer());
            ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "razorstream-timer");
                t.setDaemon(true);
                return t;
            });
            ServiceContext ctx = new ServiceContext(
                    streams,
                    producer,
                    router,
                    model,
                    self,
                    settings.turnsTopic(),
                    settings.maxTextBytes(),
                    settings.maxReplyTokens(),
                    s.turnTimeout(),
                    timer,
                    s.applicationId(),
                    metrics);
            metrics.watch(streams);
            Tenants tenants = new Tenants(s.apiKeys());
            GrpcServer grpc = new GrpcServer(s.bind(), port, ctx, s.tls(), tenants);
            streams.setStateListener((now, before) -> {
                grpc.setServing(now == KafkaStreams.State.RUNNING);
                if (now == KafkaStreams.State.RUNNING) log.info("stream processing: {} -> {}: serving", before, now);
                else
                    log.info(
                            "stream processing: {} -> {}: NOT_SERVING until partitions "
                                    + "are assigned and their stores restored",
                            before,
                            now);
            });
            // Close order (reverse of this list): gRPC first, then Streams, the committed-replies reader, producer,
            // timer, model, engine, broker.
            resources.add(timer::shutdownNow);
            resources.add(producer);
            resources.add(CommittedReplies.start(bootstrap, settings.repliesTopic(), router));
            // Leave the group on close: a restarted or replacement instance then gets the partitions at once,
            // instead of after the old member's session timeout.
            resources.add(() -> streams.close(CloseOptions.timeout(Duration.ofSeconds(30))
                    .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)));
            streams.start();
            grpc.start();
            resources.add(() -> grpc.shutdown(Duration.ofSeconds(30)));
            HttpApi http = null;
            if (s.httpPort() > 0) {
                http = HttpApi.start(
                        grpc.inProcessChannel(),
                        model.path().getFileName().toString(),
                        s.httpModelAliases(),
                        Files.getLastModifiedTime(model.path()).toMillis() / 1000,
                        metrics::scrape,
                        s.bind(),
                        s.httpPort(),
                        s.tls(),
                        tenants,
                        s.httpMaxRequestBytes());
                resources.add(http); // closed before gRPC
            }
            RazorService service = new RazorService(streams, bootstrap, port, http == null ? 0 : http.port());
            service.closeInOrder.addAll(resources.reversed());
            log.info(
                    "RazorStream serving gRPC on {}:{} (advertised as {}){}, Kafka at {}",
                    s.bind(),
                    port,
                    self,
                    http == null ? "" : ", HTTP on " + s.bind() + ":" + http.port(),
                    bootstrap);
            return service;
        } catch (Exception e) {
            for (AutoCloseable r : resources.reversed()) {
                try {
                    r.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    /** Settings whose bad values would otherwise surface late (at the first turn) or without naming the key. */
    static Properties streamsProperties(
            ServiceSettings config, String bootstrap, HostInfo self, InstanceIdentity identity, boolean embedded) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId());
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.APPLICATION_SERVER_CONFIG, self.host() + ":" + self.port());
        p.put(
                StreamsConfig.STATE_DIR_CONFIG,
                config.dataDir().resolve("streams").toString());
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, config.topicReplication());
        p.put(StreamsConfig.NUM_STANDBY_REPLICAS_CONFIG, config.standbyReplicas());
        // Stream threads only move records, sessions and replies: turns run on turn threads (SessionProcessor,
        // TurnSlots),
        // any number of sessions of any partition at once, their prefill chunks and decode steps batched into common
        // forward passes (continuous batching, see the engine's PassScheduler).
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, config.streamThreads());
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        // An idle stream thread comes round to its punctuations (taking finished turns back) this often.
        p.put(StreamsConfig.POLL_MS_CONFIG, 5);
        // Static membership: a restarted instance rejoins as itself and gets its partitions back at once.
        p.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), identity.instanceId());
        // Sized for one machine when the broker is embedded (it restarts with the service); a cluster keeps Kafka's
        // defaults.
        if (embedded) p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 10_000);
        // A turn can take minutes of engine time: keep the consumer in the group and the transaction open meanwhile.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG), (int)
                Duration.ofMinutes(30).toMillis());
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 50);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), (int)
                Duration.ofMinutes(15).toMillis());
        // Said explicitly (Streams warns otherwise): a record the processor cannot handle fails the thread
        // (ThreadFailures decides what then).
        p.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndFailProcessingExceptionHandler.class);
        p.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_GLOBAL_ENABLED_CONFIG, true);
        SessionStores.withRocksConfig(p);
        return p;
    }

    /**
     * Creates the topics that are missing (the reroute topic with as many partitions as the turns topic); returns the
     * turns topic's partition count.
     */
    static int ensureTopics(ServiceSettings config, String bootstrap) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            String turns = config.turnsTopic(), rerouted = config.reroutedTopic();
            int defaults = config.topicPartitions();
            createMissing(admin, config, Map.of(turns, defaults));
            int partitions = partitions(admin, turns);
            Map<String, Integer> others = new LinkedHashMap<>();
            others.put(config.repliesTopic(), defaults);
            others.put(config.deadLetterTopic(), defaults);
            others.put(rerouted, partitions); // as many as the turns topic
            createMissing(admin, config, others);
            int reroutePartitions = partitions(admin, rerouted);
            if (reroutePartitions != partitions) {
                throw new IllegalStateException("topic " + rerouted + " has " + reroutePartitions + " partitions and "
                        + turns + " " + partitions + "; they must have as many (add partitions to " + rerouted + ")");
            }
            return partitions;
        }
    }

    /** Creates those of {@code topics} (name -> partitions) that do not exist yet. */
    private static void createMissing(Admin admin, ServiceSettings config, Map<String, Integer> topics)
            throws Exception {
        Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
        List<NewTopic> missing = new ArrayList<>();
        topics.forEach((topic, partitions) -> {
            if (!existing.contains(topic))
                missing.add(new NewTopic(topic, partitions, (short) config.topicReplication()));
        });
        if (missing.isEmpty()) return;
        try {
            admin.createTopics(missing).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) throw e; // another instance was first
        }
    }

    private static int partitions(Admin admin, String topic) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            try {
                return admin.describeTopics(List.of(topic))
                        .allTopicNames()
                        .get(30, TimeUnit.SECONDS)
                        .get(topic)
                        .partitions()
                        .size();
            } catch (ExecutionException e) {
                // A topic just created may not be known to every broker yet.
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline)
                    throw e;
                Thread.sleep(200);
            }
        }
    }

    /**
     * Waits, however long restoring takes, until stream processing runs; says every 30 s what it waits for. False if
     * stream processing stopped for good instead (the log has the reason).
     */
    public boolean awaitServing() throws InterruptedException {
        return await(null);
    }

    /** Waits until stream processing runs (partitions assigned, stores restored), or throws. */
    public void awaitRunning(Duration timeout) throws InterruptedException {
        if (!await(timeout)) throw new IllegalStateException("stream processing stopped: " + streams.state());
    }

    /**
     * Until RUNNING (true) or stopped for good (false); {@code limit} null: no limit, else past it an
     * IllegalStateException.
     */
    private boolean await(Duration limit) throws InterruptedException {
        long started = System.nanoTime(),
                nextReport = started + Duration.ofSeconds(30).toNanos();
        while (streams.state() != KafkaStreams.State.RUNNING) {
            if (streams.state() == KafkaStreams.State.ERROR || streams.state() == KafkaStreams.State.NOT_RUNNING)
                return false;
            long waited = System.nanoTime() - started;
            if (limit != null && waited > limit.toNanos()) {
                throw new IllegalStateException(
                        "stream processing not running after " + limit + ": " + streams.state());
            }
            if (System.nanoTime() > nextReport) {
                log.info(
                        "not serving yet after {} s: stream processing is {} "
                                + "(partitions being assigned or stores restored from their " + "changelogs)",
                        Duration.ofNanos(waited).toSeconds(),
                        streams.state());
                nextReport += Duration.ofSeconds(30).toNanos();
            }
            Thread.sleep(50);
        }
        return true;
    }

    public int grpcPort() {
        return grpcPort;
    }

    /** The OpenAI-compatible HTTP port, or 0 when it is off. */
    public int httpPort() {
        return httpPort;
    }

    public String bootstrapServers() {
        return bootstrap;
    }

    public KafkaStreams streams() {
        return streams;
    }

    @Override
    public void close() {
        for (AutoCloseable r : closeInOrder) {
            try {
                r.close();
            } catch (Exception e) {
                log.warn("while shutting down: {}", e.toString());
            }
        }
        closeInOrder.clear();
    }
}
