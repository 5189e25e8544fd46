package io.razorstream.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A turn already applied to a session, kept for the session's whole life (one small record per turn id) so that a
 * re-sent turn id, however old, returns the same reply and changes nothing - also once a rollback took the turn back
 * ({@code rolledBack}: the id is then refused, never applied a second time).
 *
 * @param finishReason the reply's finish reason as its wire number (razorstream.v1.FinishReason)
 */
public record AppliedTurn(
        String turnId, String reply, int finishReason, int promptTokens, int completionTokens, boolean rolledBack) {
    public AppliedTurn(String turnId, String reply, int finishReason, int promptTokens, int completionTokens) {
        this(turnId, reply, finishReason, promptTokens, completionTokens, false);
    }

    /** This turn, taken back by a rollback. */
    public AppliedTurn takenBack() {
        return new AppliedTurn(turnId, reply, finishReason, promptTokens, completionTokens, true);
    }

    byte[] encode() {
        byte[] text = reply.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(3 * Integer.BYTES + Integer.BYTES + text.length + 1)
                .order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(finishReason)
                .putInt(promptTokens)
                .putInt(completionTokens)
                .putInt(text.length)
                .put(text)
                .put((byte) (rolledBack ? 1 : 0));
        return RecordCodec.wrap(RecordCodec.KIND_TURN, b.flip());
    }

    static AppliedTurn decode(String turnId, byte[] value, String where) {
        ByteBuffer b = RecordCodec.unwrap(value, RecordCodec.KIND_TURN, () -> where);
        try {
            int finish = b.getInt(), prompt = b.getInt(), completion = b.getInt();
            byte[] text = new byte[b.getInt()];
            b.get(text);
            boolean rolledBack = b.hasRemaining() && b.get() == 1; // absent from records written before rollbacks
            return new AppliedTurn(
                    turnId, new String(text, StandardCharsets.UTF_8), finish, prompt, completion, rolledBack);
        } catch (RuntimeException e) {
            throw new StoreFormatException(where + ": malformed turn record (" + e + ")");
        }
    }
}
