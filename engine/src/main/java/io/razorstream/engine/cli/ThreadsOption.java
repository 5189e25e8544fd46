package io.razorstream.engine.cli;

import picocli.CommandLine.Option;

/** {@code --threads N}, defaulting to every core. */
final class ThreadsOption {
    @Option(
            names = {"-t", "--threads"},
            description = "compute threads (default: all cores)")
    Integer threads;

    int resolve() {
        return threads != null ? threads : Runtime.getRuntime().availableProcessors();
    }
}
