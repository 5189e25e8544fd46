package io.razorstream.engine.kv;

/** What one (layer, KV head) keeps: everything (retrieval heads), or sinks + window + compensation. */
public enum HeadPolicy {
    FULL, WINDOW
}
