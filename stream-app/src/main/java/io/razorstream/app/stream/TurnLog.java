package io.razorstream.app.stream;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.razorstream.app.metrics.TurnStageTimes;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.proto.v1.TurnStages;

import java.util.Locale;

/**
 * The log line of a processed turn: who, how much, how fast, how it ended, where its time went (TurnStages); as
 * key=value words or (log.turns=json) one JSON object.
 */
final class TurnLog {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TurnLog() {}

    static String text(TurnEvent turn, ReplyEvent r, long nanos) {
        if (!r.getError().isEmpty()) {
            return String.format(
                    Locale.ROOT,
                    "turn session=%s turn=%s error=%s (%d ms): %s",
                    turn.getSessionId(),
                    turn.getTurnId(),
                    r.getErrorCode(),
                    nanos / 1_000_000,
                    r.getError());
        }
        TurnStages st = r.getStages();
        return String.format(
                Locale.ROOT,
                "turn session=%s turn=%s in=%d out=%d prefill=%d ms (%s tok/s) decode=%s tok/s finish=%s%s total=%d ms"
                        + " (queued=%s waited=%s load=%s handoff=%s store=%s ms)",
                turn.getSessionId(),
                turn.getTurnId(),
                r.getPromptTokens(),
                r.getCompletionTokens(),
                r.getPrefillMicros() / 1000,
                rate(r.getPromptTokens(), r.getPrefillMicros()),
                rate(r.getCompletionTokens(), r.getDecodeMicros()),
                finish(r),
                r.getDuplicate() ? " duplicate" : "",
                nanos / 1_000_000,
                ms(st.getQueuedMicros()),
                ms(st.getWaitedMicros()),
                ms(st.getLoadMicros()),
                ms(st.getHandoffMicros()),
                ms(st.getStoreMicros()));
    }

    private static String ms(long micros) {
        return String.format(Locale.ROOT, "%.1f", micros / 1000.0);
    }

    static String json(TurnEvent turn, ReplyEvent r, long nanos) {
        ObjectNode o = JSON.createObjectNode()
                .put("event", "turn")
                .put("session", turn.getSessionId())
                .put("turn", turn.getTurnId());
        int slash = turn.getSessionId().indexOf('/');
        if (slash > 0) o.put("tenant", turn.getSessionId().substring(0, slash));
        if (!r.getError().isEmpty()) {
            o.put("error", r.getErrorCode()).put("message", r.getError());
        } else {
            o.put("tokens_in", r.getPromptTokens())
                    .put("tokens_out", r.getCompletionTokens())
                    .put("prefill_ms", r.getPrefillMicros() / 1000.0)
                    .put("decode_ms", r.getDecodeMicros() / 1000.0)
                    .put("finish", finish(r))
                    .put("duplicate", r.getDuplicate());
            if (r.getPrefillMicros() > 0)
                o.put("prefill_tokens_per_s", r.getPromptTokens() * 1e6 / r.getPrefillMicros());
            if (r.getDecodeMicros() > 0)
                o.put("decode_tokens_per_s", r.getCompletionTokens() * 1e6 / r.getDecodeMicros());
        }
        ObjectNode stages = o.putObject("stages_ms");
        TurnStageTimes.micros(r.getStages()).forEach((stage, micros) -> {
            if (!stage.equals(TurnStageTimes.COMMITTED))
                stages.put(stage, micros / 1e3); // measured where the call waits, not here
        });
        return o.put("total_ms", nanos / 1e6).toString();
    }

    private static String finish(ReplyEvent r) {
        return r.getFinishReason().name().replace("FINISH_REASON_", "").toLowerCase(Locale.ROOT);
    }

    private static String rate(int tokens, long micros) {
        return micros <= 0 || tokens <= 0 ? "-" : String.format(Locale.ROOT, "%.1f", tokens * 1e6 / micros);
    }
}
