package io.razorstream.engine.launcher;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** bin/razorstream's JDK discovery, run as a real process. */
class LauncherScriptTest {

    private static Path launcher() {
        // Tests run in engine/; the launcher is at the repository root.
        Path p = Path.of("..", "bin", "razorstream").toAbsolutePath().normalize();
        assertThat(p).exists();
        return p;
    }

    private static String[] run(Map<String, String> env, String... args) throws IOException, InterruptedException {
        String[] cmd = new String[args.length + 2];
        cmd[0] = "bash";
        cmd[1] = launcher().toString();
        System.arraycopy(args, 0, cmd, 2, args.length);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("JAVA_HOME");
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new String[] {String.valueOf(p.waitFor()), out};
    }

    @Test
    void withoutAJdk25ItSaysWhatToInstallAndExits2(@TempDir Path emptyJvmDir) throws Exception {
        // A fake "JDK 17" so that the scan sees a candidate and rejects it by version.
        Path old = emptyJvmDir.resolve("jdk-17");
        Files.createDirectories(old.resolve("bin"));
        Files.writeString(old.resolve("release"), "JAVA_VERSION=\"17.0.15\"\n");
        for (String tool : new String[] {"java", "javac"}) {
            Path f = Files.writeString(old.resolve("bin").resolve(tool), "#!/bin/sh\nexit 0\n");
            f.toFile().setExecutable(true);
        }
        String[] r = run(Map.of("RAZORSTREAM_JVM_DIR", emptyJvmDir.toString(), "JAVA_HOME", old.toString()), "--help");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[1]).contains("no JDK >= 25 found").contains("JAVA_HOME");
    }

    /** The java arguments the launcher would use (RAZORSTREAM_DRY_RUN prints them and builds nothing). */
    private static String javaArgs(String... args) throws Exception {
        String[] r = run(Map.of("RAZORSTREAM_DRY_RUN", "1"), args);
        assertThat(r[0]).as(r[1]).isEqualTo("0");
        assertThat(r[1]).contains("io.razorstream.app.cli.Main");
        return r[1];
    }

    @Test
    void theVectorModuleIsAddedOnlyForCommandsThatRunTheEngine() throws Exception {
        // With it the JDK prints "WARNING: Using incubator modules" at start: not for help or the clients.
        for (String[] client : new String[][] {
            {},
            {"--help"},
            {"-V"},
            {"help", "generate"},
            {"generate", "--help"},
            {"serve", "-h"},
            {"chat", "--target", "localhost:7070", "--session", "s", "--message", "hi"},
            {"session", "--session", "s"},
            {"turn-event", "--session", "s", "--text", "t", "--out", "f"},
            {"reply-event", "-"}
        }) {
            assertThat(javaArgs(client)).as(String.join(" ", client)).doesNotContain("jdk.incubator.vector");
        }
        for (String[] engine : new String[][] {
            {"serve"},
            {"generate", "--prompt", "hi"},
            {"bench"},
            {"eval", "--out", "d"},
            {"profile"},
            {"inspect"},
            {"random-model", "--like", "tiny", "--out", "f"},
            {"synth-model", "--out", "f"},
            {"bench-store"},
            {"bench-service"},
            {"chat", "--model", "m.gguf"},
            {"chat", "--model=m.gguf"}
        }) {
            assertThat(javaArgs(engine)).as(String.join(" ", engine)).contains("--add-modules\njdk.incubator.vector\n");
        }
        // the arguments are passed on unchanged, spaces and all
        assertThat(javaArgs("chat", "--session", "s", "--message", "two words"))
                .endsWith("chat\n--session\ns\n--message\ntwo words\n");
    }

    @Test
    void findsAJdk25UnderUsrLibJvmWhenJavaHomeIsUnset() throws Exception {
        // RAZORSTREAM_PRINT_JDK stops before the build, so this test never runs Maven inside Maven.
        String[] r = run(Map.of("RAZORSTREAM_PRINT_JDK", "1"));
        assertThat(r[0]).isEqualTo("0");
        Path home = Path.of(r[1].trim());
        String release = Files.readString(home.resolve("release"));
        int feature = Integer.parseInt(release.replaceAll("(?s).*JAVA_VERSION=\"(\\d+).*", "$1"));
        assertThat(feature).isGreaterThanOrEqualTo(25);
    }
}
