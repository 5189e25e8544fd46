package io.razorstream.engine;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds {@code ../shared/models} (the reference models beside the checkout). Absent in a user's fresh clone: tests that
 * need it are skipped with that reason; CI has it.
 */
public final class SharedModels {
    private SharedModels() {}

    public static Path dir() {
        String override = System.getenv("RAZORSTREAM_SHARED");
        if (override != null) return Path.of(override, "models");
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path candidate = d.resolve("shared").resolve("models");
            if (Files.isDirectory(candidate)) return candidate;
        }
        return null;
    }

    /** The path of a shared model file, or skips the calling test with the reason. */
    public static Path require(String relative) {
        Path dir = dir();
        Assumptions.assumeTrue(
                dir != null,
                "../shared/models not found (it sits beside the checkout in CI); skipping a test that needs "
                        + relative);
        Path file = dir.resolve(relative);
        Assumptions.assumeTrue(Files.exists(file), file + " not found; skipping");
        return file;
    }
}
