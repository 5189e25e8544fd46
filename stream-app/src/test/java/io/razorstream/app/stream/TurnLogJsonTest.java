package io.razorstream.app.stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.razorstream.proto.v1.FinishReason;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.TurnEvent;
import io.razorstream.proto.v1.TurnStages;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The JSON turn log line (log.turns=json) carries the turn's figures, the tenant split off, and errors with their code.
 */
class TurnLogJsonTest {
    @Test
    void aTurnAndARefusal() throws Exception {
        TurnEvent turn = TurnEvent.newBuilder()
                .setSessionId("acme/chat-1")
                .setTurnId("t1")
                .build();
        JsonNode ok = new ObjectMapper()
                .readTree(TurnLog.json(
                        turn,
                        ReplyEvent.newBuilder()
                                .setPromptTokens(40)
                                .setCompletionTokens(8)
                                .setPrefillMicros(200_000)
                                .setDecodeMicros(400_000)
                                .setFinishReason(FinishReason.FINISH_REASON_LENGTH)
                                .setStages(TurnStages.newBuilder()
                                        .setWaitedMicros(1500)
                                        .setStoreMicros(12_000))
                                .build(),
                        700_000_000L));
        assertThat(ok.path("tenant").asText()).isEqualTo("acme");
        assertThat(ok.path("tokens_in").asInt()).isEqualTo(40);
        assertThat(ok.path("prefill_tokens_per_s").asDouble()).isEqualTo(200.0);
        assertThat(ok.path("decode_tokens_per_s").asDouble()).isEqualTo(20.0);
        assertThat(ok.path("finish").asText()).isEqualTo("length");
        assertThat(ok.path("total_ms").asDouble()).isEqualTo(700.0);
        assertThat(ok.at("/stages_ms/waited").asDouble()).isEqualTo(1.5);
        assertThat(ok.at("/stages_ms/store").asDouble()).isEqualTo(12.0);
        JsonNode err = new ObjectMapper()
                .readTree(TurnLog.json(
                        TurnEvent.newBuilder()
                                .setSessionId("solo")
                                .setTurnId("t2")
                                .build(),
                        ReplyEvent.newBuilder()
                                .setErrorCode("INVALID_ARGUMENT")
                                .setError("too long")
                                .build(),
                        1_000_000L));
        assertThat(err.has("tenant")).isFalse();
        assertThat(err.path("error").asText()).isEqualTo("INVALID_ARGUMENT");
        assertThat(err.path("message").asText()).isEqualTo("too long");
    }
}
