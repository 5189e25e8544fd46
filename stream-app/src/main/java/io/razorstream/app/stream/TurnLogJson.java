package io.razorstream.app.stream;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.TurnEvent;

import java.util.Locale;

/** A turn's log line as one JSON object (setting log.turns=json), for log shippers. */
final class TurnLogJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TurnLogJson() {}

    static String of(TurnEvent turn, ReplyEvent r, long nanos) {
        ObjectNode o = JSON.createObjectNode().put("event", "turn").put("session", turn.getSessionId()).put("turn", turn.getTurnId());
        int slash = turn.getSessionId().indexOf('/');
        if (slash > 0) o.put("tenant", turn.getSessionId().substring(0, slash));
        if (!r.getError().isEmpty()) {
            o.put("error", r.getErrorCode()).put("message", r.getError());
        } else {
            o.put("tokens_in", r.getPromptTokens()).put("tokens_out", r.getCompletionTokens()).put("prefill_ms", r.getPrefillMicros() / 1000.0)
                    .put("decode_ms", r.getDecodeMicros() / 1000.0)
                    .put("finish", r.getFinishReason().name().replace("FINISH_REASON_", "").toLowerCase(Locale.ROOT)).put("duplicate", r.getDuplicate());
            if (r.getPrefillMicros() > 0) o.put("prefill_tokens_per_s", r.getPromptTokens() * 1e6 / r.getPrefillMicros());
            if (r.getDecodeMicros() > 0) o.put("decode_tokens_per_s", r.getCompletionTokens() * 1e6 / r.getDecodeMicros());
        }
        return o.put("total_ms", nanos / 1e6).toString();
    }
}
