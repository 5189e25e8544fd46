package io.razorstream.engine.kv;

/**
 * What one (layer, KV head) keeps: everything (retrieval heads), sinks + window + compensation
 * (RazorAttention's other heads, or StreamingLLM without compensation), H2O's heavy hitters + recent,
 * or SnapKV's one-shot selection at the end of the prompt.
 */
public enum HeadPolicy {
    FULL, WINDOW, HEAVY_HITTERS, SNAPKV
}
