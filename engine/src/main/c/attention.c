/*
 * RazorStream native kernel tier: causal attention of one GQA group (the query heads sharing one KV head)
 * over a FULL head's cached rows, with a tiled online softmax: scores for a tile of positions, the running
 * maximum and sum rescaled as the tile's maximum grows, and the values accumulated in F32. Each key and
 * value row is read from memory once for the whole group; the scratch is one tile per call.
 *
 * Compiled once per ISA variant like kernels.c (RS_ISA gives the suffix). Results do not depend on how
 * a query was batched: a query with the same length sees the same tiles (prefill equals decode).
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "simd.h"

#define TILE 32        /* positions per tile */
#define MAX_GROUP 16   /* query heads per KV head */
#define MAX_HEAD 256   /* head size, a multiple of 8 */

INLINE float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The lane sums of a[0..7], as one vector (lane i = sum of a[i]). */
INLINE __m256 hsum8x8(const __m256 *a) {
    __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/*
 * e^x for x <= 0 (scores minus their running maximum): x = n ln2 + r with |r| <= ln2 / 2, a degree-6
 * polynomial for e^r (relative error ~2e-7), and 2^n through the exponent bits; below -87 it is 0.
 */
INLINE __m256 exp_nonpositive(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.0f);
    __m256 small = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(small, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

INLINE float exp1(float x) {
    float v[8] = {x, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_cvtss_f32(exp_nonpositive(_mm256_loadu_ps(v)));
}

/*
 * o[0, 8 * width) = o * c + sum_p w[p] * v[p * hs + (0, 8 * width)]: width (a constant after inlining) vectors
 * of one head's accumulator stay in registers across the tile's positions.
 */
INLINE void accumulate_values(float *o, const float *v, int hs, const float *w, int n, __m256 c, const int width) {
    __m256 acc[8];
    for (int j = 0; j < width; j++) acc[j] = _mm256_mul_ps(_mm256_loadu_ps(o + 8 * j), c);
    for (int p = 0; p < n; p++) {
        __m256 wp = _mm256_set1_ps(w[p]);
        for (int j = 0; j < width; j++) acc[j] = _mm256_fmadd_ps(wp, _mm256_loadu_ps(v + p * hs + 8 * j), acc[j]);
    }
    for (int j = 0; j < width; j++) _mm256_storeu_ps(o + 8 * j, acc[j]);
}

/*
 * out[g * hs + i] = softmax_p(scale * q_g . k_p) . v_p over positions p in [0, len), for g in [0, group).
 * q: group rows of hs floats; k, v: len rows of hs floats; out: out_base + out_offset (the caller passes a
 * whole array and where its rows start, which spares it a slice per call). Returns 0, or -1 when group or hs are beyond
 * this kernel's limits (nothing is written; the caller checks first).
 */
int RS_EXPORT(rs_attend)(const float *q, int group, int hs, const float *k, const float *v, int len, float scale, float *out_base,
                         int64_t out_offset) {
    if (group < 1 || group > MAX_GROUP || hs < 8 || hs > MAX_HEAD || hs % 8 != 0 || len < 1) return -1;
    float *out = out_base + out_offset;
    const int nv = hs / 8;
    float m[MAX_GROUP], l[MAX_GROUP];
    __attribute__((aligned(32))) float s[MAX_GROUP][TILE];
    for (int g = 0; g < group; g++) {
        m[g] = -INFINITY;
        l[g] = 0;
        for (int i = 0; i < hs; i++) out[g * hs + i] = 0;
    }
    for (int p0 = 0; p0 < len; p0 += TILE) {
        const int n = len - p0 < TILE ? len - p0 : TILE;
        const float *kt = k + (int64_t) p0 * hs, *vt = v + (int64_t) p0 * hs;
        /* scores: eight positions at a time (one transposed lane sum), the rest one by one */
        for (int g = 0; g < group; g++) {
            const float *qg = q + g * hs;
            int p = 0;
            for (; p + 8 <= n; p += 8) {
                __m256 acc[8];
                for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
                for (int c = 0; c < nv; c++) {
                    __m256 qv = _mm256_loadu_ps(qg + 8 * c);
                    for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kt + (p + j) * hs + 8 * c), acc[j]);
                }
                _mm256_store_ps(&s[g][p], _mm256_mul_ps(hsum8x8(acc), _mm256_set1_ps(scale)));
            }
            for (; p < n; p++) {
                __m256 acc = _mm256_setzero_ps();
                for (int c = 0; c < nv; c++) acc = _mm256_fmadd_ps(_mm256_loadu_ps(qg + 8 * c), _mm256_loadu_ps(kt + p * hs + 8 * c), acc);
                s[g][p] = hsum(acc) * scale;
            }
        }
        for (int g = 0; g < group; g++) {
            /* the running maximum, the rescale of what was summed so far, and this tile's weights */
            float mt = m[g];
            {
                __m256 mv = _mm256_set1_ps(mt);
                int p = 0;
                for (; p + 8 <= n; p += 8) mv = _mm256_max_ps(mv, _mm256_load_ps(&s[g][p]));
                mt = hmax(mv);
                for (; p < n; p++) mt = s[g][p] > mt ? s[g][p] : mt;
            }
            const float c = m[g] == -INFINITY ? 0.0f : exp1(m[g] - mt);
            m[g] = mt;
            int p = 0;
            __m256 sum = _mm256_setzero_ps();
            for (; p + 8 <= n; p += 8) {
                __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_load_ps(&s[g][p]), _mm256_set1_ps(mt)));
                _mm256_store_ps(&s[g][p], e);
                sum = _mm256_add_ps(sum, e);
            }
            float tail = 0;
            for (; p < n; p++) {
                s[g][p] = exp1(s[g][p] - mt);
                tail += s[g][p];
            }
            l[g] = l[g] * c + (hsum(sum) + tail);
            /* values: out_g = out_g * c + sum_p w_p v_p, the group's accumulator in registers for hs <= 128 */
            float *og = out + g * hs;
            const __m256 cv = _mm256_set1_ps(c);
            int c0 = 0;
            for (; c0 + 8 <= nv; c0 += 8) accumulate_values(og + 8 * c0, vt + 8 * c0, hs, s[g], n, cv, 8);
            for (; c0 < nv; c0++) accumulate_values(og + 8 * c0, vt + 8 * c0, hs, s[g], n, cv, 1);
        }
    }
    for (int g = 0; g < group; g++) {
        const __m256 inv = _mm256_set1_ps(1.0f / l[g]);
        for (int c = 0; c < nv; c++) _mm256_storeu_ps(out + g * hs + 8 * c, _mm256_mul_ps(_mm256_loadu_ps(out + g * hs + 8 * c), inv));
    }
    return 0;
}
