/*
 * What kernels.c and attention.c share: how they export names and the fixed-order lane sum. kernels.c is
 * compiled once per ISA variant with RS_ISA set (see build.sh) and its exported names carry the variant's
 * suffix (RS_EXPORT); attention.c is 256-bit code that is the same on every variant, compiled once
 * (RS_EXPORT_SHARED).
 */
#ifndef RS_SIMD_H
#define RS_SIMD_H

#include <immintrin.h>

#define RS_CAT2(a, b) a##_##b
#define RS_CAT(a, b) RS_CAT2(a, b)
/* An exported name of the variant RS_ISA names (avx2, avx512). */
#define RS_EXPORT(name) __attribute__((visibility("default"))) RS_CAT(name, RS_ISA)
/* An exported name shared by every variant. */
#define RS_EXPORT_SHARED(name) __attribute__((visibility("default"))) name
#define INLINE static inline __attribute__((always_inline))

/* Sum of the eight lanes in a fixed order: ((x0+x4)+(x2+x6)) + ((x1+x5)+(x3+x7)), as llama.cpp's hsum_float_8. */
INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif
