package io.razorstream.app;

import io.razorstream.app.config.ServiceConfig;
import io.razorstream.app.config.ServiceSettings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ServiceConfigTest {
    @Test
    void defaultsThenFileThenEnvironmentThenFlags(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(
                dir.resolve("razorstream.properties"), "grpc.port=8000\ndata.dir=/from/file\nkv.precision=Q8\n");
        ServiceConfig c = ServiceConfig.load(
                file,
                Map.of("RAZORSTREAM_GRPC_PORT", "9000", "RAZORSTREAM_DATA_DIR", "/from/env", "UNRELATED", "x"),
                Map.of("grpc.port", "9100"));
        assertThat(c.getInt("grpc.port")).isEqualTo(9100); // flag beats environment and file
        assertThat(c.get("data.dir")).isEqualTo("/from/env"); // environment beats file
        assertThat(c.get("kv.precision")).isEqualTo("Q8"); // file beats default
        assertThat(c.get("topic.turns")).isEqualTo("razorstream.turns"); // default
        assertThat(c.getDuration("sessions.ttl")).isEqualTo(Duration.ofDays(7));
        assertThat(ServiceConfig.envName("store.block-tokens")).isEqualTo("RAZORSTREAM_STORE_BLOCK_TOKENS");
    }

    @Test
    void unknownRazorstreamVariablesAreWarnedAboutByNameWithTheClosestSetting() throws Exception {
        Map<String, String> env = new TreeMap<>(Map.of(
                "RAZORSTREAM_GRPC_PROT", "9000", // swapped letters
                "RAZORSTREAM_BOOTSTRAP_SERVER", "kafka:9092", // missing S
                "razorstream_data_dir", "/x", // lower case: not read
                "RAZORSTREAM_FROBNICATE", "1", // nothing close
                "RAZORSTREAM_JAVA_OPTS", "-Xmx1g", // the launcher's own
                "RAZORSTREAM_PRINT_JDK", "1",
                "RAZORSTREAM_JVM_DIR", "/opt/jvm",
                "RAZORSTREAM_STANDBY_REPLICAS", "1", // a setting
                "PATH", "/usr/bin"));
        ServiceConfig c = ServiceConfig.load(null, env, Map.of());
        assertThat(c.getInt("standby.replicas")).isEqualTo(1);
        assertThat(c.getInt("grpc.port")).isEqualTo(7070); // the misspelled one changed nothing
        assertThat(c.warnings())
                .containsExactly(
                        "environment variable RAZORSTREAM_BOOTSTRAP_SERVER is not a "
                                + "setting and is ignored (did you mean " + "RAZORSTREAM_BOOTSTRAP_SERVERS?); "
                                + "the settings: razorstream serve --settings",
                        "environment variable RAZORSTREAM_FROBNICATE is not a "
                                + "setting and is ignored; the settings: razorstream serve " + "--settings",
                        "environment variable RAZORSTREAM_GRPC_PROT is not a setting "
                                + "and is ignored (did you mean RAZORSTREAM_GRPC_PORT?); "
                                + "the settings: razorstream serve --settings",
                        "environment variable razorstream_data_dir is not a setting "
                                + "and is ignored (did you mean RAZORSTREAM_DATA_DIR?); "
                                + "the settings: razorstream serve --settings");
        assertThat(ServiceConfig.load(null, Map.of("RAZORSTREAM_MODEL_PATH", "m.gguf"), Map.of())
                        .warnings())
                .singleElement()
                .asString()
                .contains("did you mean RAZORSTREAM_MODEL?");
        assertThat(ServiceConfig.load(null, Map.of("RAZORSTREAM_GRPC_PORT", "7000", "HOME", "/root"), Map.of())
                        .warnings())
                .isEmpty();
    }

    @Test
    void mistakesAreNamed(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("bad.properties"), "grpc.prot=1\n");
        assertThatThrownBy(() -> ServiceConfig.load(file, Map.of(), Map.of()))
                .hasMessageContaining("unknown setting 'grpc.prot'")
                .hasMessageContaining(file.toString());
        ServiceConfig c =
                ServiceConfig.load(null, Map.of(), Map.of("grpc.port", "seventy", "turn.timeout", "10 minutes"));
        assertThatThrownBy(() -> c.getInt("grpc.port"))
                .hasMessageContaining("grpc.port must be a whole number, got 'seventy'");
        assertThatThrownBy(() -> c.getDuration("turn.timeout")).hasMessageContaining("ISO-8601");
        assertThatThrownBy(
                        () -> ServiceSettings.parse(ServiceConfig.load(null, Map.of(), Map.of("kv.precision", "fp8"))))
                .hasMessageContaining("kv.precision must be F32, F16 or Q8, got 'fp8'");
        assertThatThrownBy(() ->
                        ServiceSettings.parse(ServiceConfig.load(null, Map.of(), Map.of("store.block-tokens", "0"))))
                .hasMessageContaining("store.block-tokens");
        assertThatThrownBy(() -> ServiceSettings.parse(
                        ServiceConfig.load(null, Map.of(), Map.of("reply.default-tokens", "5000"))))
                .hasMessageContaining("reply.default-tokens");
        assertThatThrownBy(() ->
                        ServiceSettings.parse(ServiceConfig.load(null, Map.of(), Map.of("sessions.max-tokens", "-1"))))
                .hasMessageContaining("sessions.max-tokens");
        ServiceSettings.parse(ServiceConfig.defaults()); // the defaults pass
    }
}
