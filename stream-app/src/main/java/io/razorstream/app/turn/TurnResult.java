package io.razorstream.app.turn;

import io.razorstream.proto.v1.FinishReason;

/** What applying one turn produced; {@code shiftedTokens}: positions a context shift gave back before it (0: none). */
public record TurnResult(
        String text,
        int promptTokens,
        int completionTokens,
        FinishReason finishReason,
        long prefillNanos,
        long decodeNanos,
        int shiftedTokens) {}
