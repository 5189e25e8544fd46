package io.razorstream.engine.model;

/** Forward passes run and the rows (tokens of all sequences) they took: {@link #meanRows} is the mean batch. */
public record PassCounts(long passes, long rows) {
    public double meanRows() {
        return passes == 0 ? 0 : (double) rows / passes;
    }

    /** What happened between {@code earlier} and this. */
    public PassCounts since(PassCounts earlier) {
        return new PassCounts(passes - earlier.passes, rows - earlier.rows);
    }
}
