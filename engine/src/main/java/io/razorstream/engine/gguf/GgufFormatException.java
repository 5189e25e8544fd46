package io.razorstream.engine.gguf;

import java.nio.file.Path;

/** A GGUF file that cannot be used, with the file and the problem in one message. */
public final class GgufFormatException extends RuntimeException {
    private final Path file;

    public GgufFormatException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    public GgufFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    public Path file() {
        return file;
    }
}
