package io.razorstream.app.turn;

import io.razorstream.proto.v1.FinishReason;

/** What applying one turn produced. */
public record TurnResult(String text, int promptTokens, int completionTokens, FinishReason finishReason, long prefillNanos, long decodeNanos) {}
