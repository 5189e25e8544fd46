package io.razorstream.engine.cli;

import io.razorstream.engine.DefaultModel;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --model FILE}, defaulting to the embedded stories260K model. */
final class ModelOption {
    @Option(names = {"-m", "--model"}, paramLabel = "FILE",
            description = "GGUF model file (default: the embedded " + DefaultModel.NAME + ")")
    Path model;

    Path resolve() {
        return model != null ? model : DefaultModel.path();
    }
}
