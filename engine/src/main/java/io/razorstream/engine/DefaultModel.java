package io.razorstream.engine;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The model that ships inside the engine jar (stories260K, 1.2 MB, MIT): used when no model is named, so that a fresh
 * checkout can generate text with nothing to download. It is copied to a temporary file once per process because
 * weights are memory-mapped from a file.
 */
public final class DefaultModel {
    public static final String NAME = "stories260K.gguf";
    private static final String RESOURCE = "models/" + NAME;
    private static Path extracted;

    private DefaultModel() {}

    public static synchronized Path path() {
        if (extracted != null) return extracted;
        try (InputStream in = DefaultModel.class.getResourceAsStream(RESOURCE)) {
            if (in == null)
                throw new IllegalStateException("the embedded model " + RESOURCE + " is missing from the class path");
            Path dir = Files.createTempDirectory("razorstream-");
            dir.toFile().deleteOnExit(); // deleted after the file: deleteOnExit runs in reverse order
            Path file = dir.resolve(NAME);
            file.toFile().deleteOnExit();
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            extracted = file;
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract the embedded model", e);
        }
    }
}
