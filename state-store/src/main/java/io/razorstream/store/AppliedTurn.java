package io.razorstream.store;

/** A turn already applied to a session, kept so that a re-sent turn id returns the same reply and changes nothing. */
public record AppliedTurn(String turnId, String reply) {}
