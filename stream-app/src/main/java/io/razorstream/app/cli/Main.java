package io.razorstream.app.cli;

import io.grpc.StatusRuntimeException;
import io.razorstream.engine.cli.RazorCli;
import io.razorstream.store.StoreFormatException;
import org.slf4j.bridge.SLF4JBridgeHandler;
import picocli.CommandLine;

/**
 * The {@code razorstream} command line of the whole product: the engine's commands (generate, inspect, bench, profile,
 * eval, ...) plus the service's own.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        bridgeJavaUtilLogging();
        System.exit(commandLine().execute(args));
    }

    /**
     * gRPC (and the JDK) log through java.util.logging, everything else through SLF4J (slf4j-simple, configured by
     * simplelogger.properties): JUL records go to SLF4J too, so there is one format and one set of levels.
     */
    static void bridgeJavaUtilLogging() {
        if (SLF4JBridgeHandler.isInstalled()) return;
        SLF4JBridgeHandler.removeHandlersForRootLogger();
        SLF4JBridgeHandler.install();
    }

    public static CommandLine commandLine() {
        CommandLine cl = RazorCli.commandLine();
        cl.getCommandSpec()
                .usageMessage()
                .description("RazorStream: a Kafka-streaming memory service for long LLM conversations, "
                        + "with a pure-Java CPU inference engine for GGUF models.");
        CommandLine help = cl.getSubcommands().get("help");
        cl.getCommandSpec().removeSubcommand("help"); // listed last, after the service's commands
        cl.addSubcommand("serve", new ServeCommand());
        cl.addSubcommand("chat", new ChatCommand());
        cl.addSubcommand("session", new SessionCommand());
        cl.addSubcommand("rollback", new RollbackCommand());
        cl.addSubcommand("turn-event", new TurnEventCommand.Write());
        cl.addSubcommand("reply-event", new TurnEventCommand.Read());
        cl.addSubcommand("bench-store", new BenchStoreCommand());
        cl.addSubcommand("bench-service", new BenchServiceCommand());
        if (help != null) cl.addSubcommand("help", help);
        // The terminal's width when it can be found, else 100 columns: at 80, long option descriptions break
        // inside file names (stories260K.gguf). Every command's examples fit in 80.
        cl.setUsageHelpWidth(100);
        cl.setUsageHelpAutoWidth(true);
        CommandLine.IExecutionExceptionHandler engineHandler = cl.getExecutionExceptionHandler();
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof StatusRuntimeException s) {
                cmd.getErr()
                        .println("error: " + s.getStatus().getCode() + ": "
                                + s.getStatus().getDescription());
                cmd.getErr().flush();
                return 1;
            }
            if (e instanceof StoreFormatException) {
                cmd.getErr().println("error: " + e.getMessage());
                cmd.getErr().flush();
                return 1;
            }
            return engineHandler.handleExecutionException(e, cmd, parsed);
        });
        return cl;
    }
}
