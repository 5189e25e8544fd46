package io.razorstream.engine.kernel;

import io.razorstream.engine.bench.ModelShape;
import io.razorstream.engine.bench.RandomModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A build with the native tier, run where its library is missing or cannot be loaded: the engine runs on the Java tier
 * and says so in one line; asking for the native tier explicitly is a clear error. Each case is a fresh JVM (the
 * library is bound once per process).
 */
class NativeFallbackTest {
    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void tinyQ8Model() throws IOException {
        model = dir.resolve("tiny-q8.gguf");
        RandomModel.write(ModelShape.TINY, GgmlType.Q8_0, 3, model);
    }

    record Run(int exit, String out, String err) {}

    static Run bench(String library, String... extra) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules",
                "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                System.getProperty("java.class.path")));
        if (library != null) cmd.add("-Drazorstream.native.library=" + library);
        cmd.addAll(List.of(
                "io.razorstream.engine.cli.RazorCli",
                "bench",
                "--model",
                model.toString(),
                "--prompt-tokens",
                "4",
                "--gen-tokens",
                "2",
                "--repeats",
                "1",
                "--warmups",
                "0",
                "--threads",
                "1",
                "--json"));
        cmd.addAll(List.of(extra));
        Path out = dir.resolve("out.txt"), err = dir.resolve("err.txt");
        Process p = new ProcessBuilder(cmd)
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Run(
                p.exitValue(),
                Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    /** stderr without the JDK's own notice about incubator modules. */
    static List<String> ownLines(String err) {
        return err.lines().filter(l -> !l.contains("incubator modules")).toList();
    }

    @Test
    void aMissingLibraryFallsBackToTheJavaTierWithOneLine() throws Exception {
        Path missing = dir.resolve("no-such-library.so");
        Run r = bench(missing.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("\"kernels\":\"java\"");
        assertThat(ownLines(r.err())).hasSize(1);
        assertThat(ownLines(r.err()).get(0))
                .contains("native kernels unavailable")
                .contains(missing.toString())
                .contains("using the Java kernel tier");
    }

    @Test
    void anUnloadableLibraryFallsBackToTheJavaTierWithOneLine() throws Exception {
        Path garbage = Files.writeString(dir.resolve("garbage.so"), "not an ELF file");
        Run r = bench(garbage.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("\"kernels\":\"java\"");
        assertThat(ownLines(r.err())).hasSize(1);
        assertThat(ownLines(r.err()).get(0))
                .contains("native kernels unavailable")
                .contains("not a shared library")
                .contains("using the Java kernel tier");
    }

    @Test
    void askingForTheMissingNativeTierIsAClearError() throws Exception {
        Run r = bench(dir.resolve("no-such-library.so").toString(), "--kernels", "native");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(ownLines(r.err())).hasSize(1);
        assertThat(ownLines(r.err()).get(0))
                .contains("native kernels requested but unavailable")
                .contains("no-such-library.so");
    }

    @Test
    void thePackagedLibraryRunsTheNativeTierWhereTheCpuAllows() throws Exception {
        Run r = bench(null);
        assertThat(r.exit()).as(r.err()).isZero();
        if (NativeKernels.available()) {
            assertThat(r.out()).contains("\"kernels\":\"native\"").contains("\"isa\":\"" + NativeKernels.isa() + "\"");
            assertThat(ownLines(r.err())).isEmpty();
        } else {
            assertThat(r.out()).contains("\"kernels\":\"java\"");
        }
        Run java = bench(null, "--kernels", "java");
        assertThat(java.out()).contains("\"kernels\":\"java\"");
    }
}
