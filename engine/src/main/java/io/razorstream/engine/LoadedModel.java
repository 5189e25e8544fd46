package io.razorstream.engine;

import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.Transformer;
import io.razorstream.engine.tokenizer.Tokenizer;

import java.nio.file.Path;

/** A GGUF file opened as a runnable model with its tokenizer. Closing it unmaps the weights. */
public final class LoadedModel implements AutoCloseable {
    private final GgufFile gguf;
    private final Transformer model;
    private final Tokenizer tokenizer;

    private LoadedModel(GgufFile gguf, Transformer model, Tokenizer tokenizer) {
        this.gguf = gguf;
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** Opens, validates and maps {@code path}; bad files fail with a GgufFormatException naming the file. */
    public static LoadedModel open(Path path) {
        GgufFile gguf = GgufFile.open(path);
        try {
            Transformer model = Transformer.load(gguf);
            Tokenizer tokenizer = Tokenizer.from(gguf);
            if (tokenizer.vocabulary().size() != model.config().vocabularySize()) {
                throw new GgufFormatException(
                        path,
                        "tokenizer has " + tokenizer.vocabulary().size() + " tokens, the model "
                                + model.config().vocabularySize());
            }
            return new LoadedModel(gguf, model, tokenizer);
        } catch (IllegalStateException | ClassCastException e) {
            // A metadata value of the wrong type (say, a string where a count belongs).
            gguf.close();
            throw new GgufFormatException(path, "malformed metadata: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            gguf.close();
            throw e;
        }
    }

    public GgufFile gguf() {
        return gguf;
    }

    public Transformer model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** A decoder of this model (its tokenizer, the default prefill batch) on {@code parallel}. */
    public Decoder decoder(Parallel parallel) {
        return new Decoder(model(), tokenizer(), parallel, Decoder.PREFILL_BATCH);
    }

    @Override
    public void close() {
        gguf.close();
    }
}
