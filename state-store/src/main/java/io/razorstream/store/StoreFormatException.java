package io.razorstream.store;

/** A stored record that cannot be read: corrupt (checksum, truncation), inconsistent, or of another format version. */
public final class StoreFormatException extends RuntimeException {
    public StoreFormatException(String message) {
        super(message);
    }
}
