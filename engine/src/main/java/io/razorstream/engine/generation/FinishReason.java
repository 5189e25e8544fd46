package io.razorstream.engine.generation;

/** Why a generated reply ended. */
public enum FinishReason {
    /** The model produced an end-of-generation token (EOS, {@code <|im_end|>}, ...); it is neither shown nor fed. */
    END_OF_GENERATION,
    /** The text reached one of the request's stop strings; the reply ends before it. */
    STOP,
    /** The reply reached the request's token budget. */
    LENGTH,
    /** The cache reached its token limit. */
    CONTEXT_FULL
}
