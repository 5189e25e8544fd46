package io.razorstream.engine.cli;

import io.razorstream.engine.gguf.GgufFormatException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.UncheckedIOException;

/** The {@code razorstream} command line: generate, inspect, bench, random-model, synth-model. */
@Command(
        name = "razorstream",
        mixinStandardHelpOptions = true,
        version = "razorstream 0.1.0",
        description = "RazorStream: a pure-Java CPU inference engine for GGUF models.",
        subcommands = {
            GenerateCommand.class,
            TokenizeCommand.class,
            InspectCommand.class,
            BenchCommand.class,
            RandomModelCommand.class,
            SynthModelCommand.class,
            ProfileCommand.class,
            EvalCommand.class,
            CommandLine.HelpCommand.class
        })
public final class RazorCli {

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line (also used by tests, which call execute without exiting). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new RazorCli());
        // Bad input (a corrupt model file, an impossible setting) is the user's to fix: one line, exit 1.
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof GgufFormatException
                    || e instanceof IllegalArgumentException
                    || e instanceof IOException
                    || e instanceof UncheckedIOException) {
                cmd.getErr().println("error: " + e.getMessage());
                cmd.getErr().flush();
                return 1;
            }
            throw e;
        });
        return cl;
    }
}
