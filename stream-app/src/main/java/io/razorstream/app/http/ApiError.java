package io.razorstream.app.http;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.util.Locale;

/**
 * An error as the OpenAI protocol shapes it: an HTTP status and {@code {"error": {"message", "type", "param",
 * "code"}}}. Statuses from the gRPC service map to the HTTP status a client of llama.cpp's server or vLLM would get for
 * the same thing.
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type, code;

    ApiError(int status, String type, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.code = code;
    }

    static ApiError invalid(String message) {
        return new ApiError(400, "invalid_request_error", null, message);
    }

    static ApiError of(StatusRuntimeException e) {
        Status s = e.getStatus();
        String message = s.getDescription() == null ? s.getCode().name() : s.getDescription();
        return switch (s.getCode()) {
            case INVALID_ARGUMENT, OUT_OF_RANGE -> new ApiError(400, "invalid_request_error", null, message);
            case UNAUTHENTICATED -> new ApiError(401, "authentication_error", "invalid_api_key", message);
            case PERMISSION_DENIED -> new ApiError(403, "permission_error", null, message);
            case NOT_FOUND -> new ApiError(404, "not_found_error", null, message);
            case ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED ->
                new ApiError(409, "invalid_request_error", "conflict", message);
            case RESOURCE_EXHAUSTED -> new ApiError(429, "rate_limit_error", null, message);
            case CANCELLED -> new ApiError(499, "invalid_request_error", "cancelled", message);
            case UNAVAILABLE -> new ApiError(503, "server_error", "unavailable", message);
            case DEADLINE_EXCEEDED -> new ApiError(504, "server_error", "timeout", message);
            default -> new ApiError(500, "server_error", s.getCode().name().toLowerCase(Locale.ROOT), message);
        };
    }
}
