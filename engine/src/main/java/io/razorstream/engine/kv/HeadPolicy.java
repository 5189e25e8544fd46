package io.razorstream.engine.kv;

/**
 * What one (layer, KV head) keeps: everything (retrieval heads), sinks + window + compensation
 * (RazorAttention's other heads, or StreamingLLM without compensation), or H2O's heavy hitters + recent.
 */
public enum HeadPolicy {
    FULL, WINDOW, HEAVY_HITTERS
}
