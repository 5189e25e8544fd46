package io.razorstream.engine.llama;

/**
 * How keys and values are held in the cache. F16 (llama.cpp's default) rounds every cached element to
 * half precision, and with it the query and the attention weights that meet them, as llama.cpp's CPU
 * attention does; F32 keeps everything in single precision.
 */
public enum KvPrecision {
    F32, F16
}
