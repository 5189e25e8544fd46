package io.razorstream.app.turn;

import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.TokenLogprob;

import java.util.List;

/**
 * What applying one turn produced; {@code shiftedTokens}: positions a context shift gave back before it (0: none);
 * {@code logprobs}: one per reply token when the turn asked for them (else empty).
 */
public record TurnResult(
        String text,
        int promptTokens,
        int completionTokens,
        FinishReason finishReason,
        long prefillNanos,
        long decodeNanos,
        int shiftedTokens,
        List<TokenLogprob> logprobs) {}
