package io.razorstream.engine.chat.jinja;

/**
 * A template that does not parse, or that fails while rendering (an undefined name used as a value, a wrong operand, or
 * the template's own {@code raise_exception}); the message names the template line where there is one.
 */
public final class JinjaException extends RuntimeException {
    private final String detail;
    private final boolean raisedByTemplate;

    JinjaException(String detail, int line) {
        this(detail, line, false);
    }

    JinjaException(String detail, int line, boolean raisedByTemplate) {
        super(line > 0 ? detail + " (template line " + line + ")" : detail);
        this.detail = detail;
        this.raisedByTemplate = raisedByTemplate;
    }

    /** The message without the line: for {@code raise_exception}, the template's own words. */
    public String detail() {
        return detail;
    }

    /** Whether the template itself refused its input ({@code raise_exception}), rather than failing. */
    public boolean raisedByTemplate() {
        return raisedByTemplate;
    }
}
