package io.razorstream.engine.profile;

import io.razorstream.engine.attention.AttentionObserver;

/**
 * Echo and induction scores of every query head over one probe: a sequence of {@code period} random tokens repeated,
 * starting at position {@code offset} (after BOS). For a query at probe index i with earlier copies J(i) = {i mod K, i
 * mod K + K, ... < i} of its token: echo(i) = sum over j in J(i) of A[i, j] (attending to an earlier copy of itself)
 * and induction(i) = sum over j in J(i) of A[i, j + 1] (attending to what followed it). A head's scores are the means
 * over the queries of the second and later repeats (../shared/docs/RAZOR.md, section 2).
 */
final class ProbeScorer implements AttentionObserver {
    private final int period;
    private final int offset;
    private final double[][] echo, induction;
    private final long[][] queries;

    ProbeScorer(int layers, int heads, int period, int offset) {
        if (period < 1) throw new IllegalArgumentException("period must be >= 1");
        this.period = period;
        this.offset = offset;
        this.echo = new double[layers][heads];
        this.induction = new double[layers][heads];
        this.queries = new long[layers][heads];
    }

    @Override
    public void observe(int layer, int head, int position, float[] p, int length, float[] values) {
        int i = position - offset;
        if (i < period) return; // BOS and the first repeat have no earlier copy
        double e = 0, ind = 0;
        for (int j = i % period; j < i; j += period) {
            e += p[offset + j];
            ind += p[offset + j + 1];
        }
        synchronized (this) {
            echo[layer][head] += e;
            induction[layer][head] += ind;
            queries[layer][head]++;
        }
    }

    synchronized double echo(int layer, int head) {
        return queries[layer][head] == 0 ? 0 : echo[layer][head] / queries[layer][head];
    }

    synchronized double induction(int layer, int head) {
        return queries[layer][head] == 0 ? 0 : induction[layer][head] / queries[layer][head];
    }
}
