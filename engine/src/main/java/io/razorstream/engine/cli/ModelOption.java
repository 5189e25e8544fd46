package io.razorstream.engine.cli;

import io.razorstream.engine.DefaultModel;
import io.razorstream.engine.kernel.Kernels;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --model FILE}, defaulting to the embedded stories260K model, and the kernel tier that runs it. */
final class ModelOption {
    @Option(
            names = {"-m", "--model"},
            paramLabel = "FILE",
            description = "GGUF model file (default: the embedded " + DefaultModel.NAME + ")")
    Path model;

    @Option(
            names = "--kernels",
            paramLabel = "TIER",
            defaultValue = "${sys:razorstream.kernels:-auto}",
            description = "kernel tier: auto (native when its library loads and the "
                    + "CPU has AVX2), native or java (default: ${DEFAULT-VALUE})")
    String kernels;

    /** The model file, after selecting the kernel tier. */
    Path resolve() {
        Kernels.select(Kernels.Mode.parse(kernels));
        return model != null ? model : DefaultModel.path();
    }
}
