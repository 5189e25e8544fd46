package io.razorstream.engine.chat;

/**
 * A turn that cannot be applied to its conversation (it adds nothing to reply to, or cannot fit the limit), refused
 * before it changed anything: the cache and the bookkeeping are as they were. Any other exception from a turn leaves
 * them half-updated.
 */
public final class TurnRefused extends RuntimeException {
    public TurnRefused(String message) {
        super(message);
    }
}
