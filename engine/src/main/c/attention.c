/*
 * RazorStream native kernel tier: attention of one GQA group (the query heads sharing one KV head) over one
 * head's rows, computed as llama.cpp's non-flash CPU path computes it: every logit first, then the softmax
 * (exponentials summed in double, scaled by the float reciprocal of the sum), the probabilities rounded to F16
 * when the cache is F16, then the values weighted in position order in F32. The rows come as up to two runs (a
 * FULL head: one; a window head: its sinks, then its window) and an optional compensation row whose logit gets a
 * bias (RazorAttention's + ln n). Each key and value row is read once for the whole group; rs_attend_causal reads
 * a FULL head's rows once for a whole prefill chunk.
 *
 * 256-bit code only, so it is compiled once, with the avx2 variant's flags, and every variant calls it (build.sh).
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "simd.h"

#define TILE 32        /* positions whose keys or values are read by every query of the group in turn */
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
 * e^x for x <= 0 (logits minus their maximum): x = n ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial for
 * e^r (relative error ~2e-7), and 2^n through the exponent bits; below -87 it is 0.
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

/* sg[p] = qg . k_p for p in [p0, end): eight positions at a time (one transposed lane sum), the rest one by one. */
INLINE void dot_tile(const float *qg, int hs, const float *k, int p0, int end, float *sg) {
    const int nv = hs / 8;
    int p = p0;
    for (; p + 8 <= end; p += 8) {
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        for (int c = 0; c < nv; c++) {
            __m256 qv = _mm256_loadu_ps(qg + 8 * c);
            for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + (int64_t) (p + j) * hs + 8 * c), acc[j]);
        }
        _mm256_storeu_ps(sg + p, hsum8x8(acc));
    }
    for (; p < end; p++) {
        __m256 acc = _mm256_setzero_ps();
        for (int c = 0; c < nv; c++) acc = _mm256_fmadd_ps(_mm256_loadu_ps(qg + 8 * c), _mm256_loadu_ps(k + (int64_t) p * hs + 8 * c), acc);
        sg[p] = hsum(acc);
    }
}

/*
 * s[g * stride + p] = q_g . k_p for the run's n rows, a tile of positions at a time for all the group's queries (the
 * tile's keys stay in cache while each query reads them).
 */
static void dot_rows(const float *q, int group, int hs, const float *k, int n, float *s, int stride) {
    for (int p0 = 0; p0 < n; p0 += TILE) {
        const int end = n - p0 < TILE ? n : p0 + TILE;
        for (int g = 0; g < group; g++) dot_tile(q + g * hs, hs, k, p0, end, s + (int64_t) g * stride);
    }
}

/*
 * o[0, 8 * width) += sum_p w[p] * v[p * hs + (0, 8 * width)]: width (a constant after inlining) vectors of one
 * head's accumulator stay in registers across the run's positions.
 */
INLINE void accumulate_values(float *o, const float *v, int hs, const float *w, int n, const int width) {
    __m256 acc[8];
    for (int j = 0; j < width; j++) acc[j] = _mm256_loadu_ps(o + 8 * j);
    for (int p = 0; p < n; p++) {
        __m256 wp = _mm256_set1_ps(w[p]);
        for (int j = 0; j < width; j++) acc[j] = _mm256_fmadd_ps(wp, _mm256_loadu_ps(v + (int64_t) p * hs + 8 * j), acc[j]);
    }
    for (int j = 0; j < width; j++) _mm256_storeu_ps(o + 8 * j, acc[j]);
}

/* og += sum_p wg[p] v_p over the m rows of vt (one query's accumulator, eight vectors at a time). */
INLINE void weigh_tile(float *og, const float *vt, int hs, const float *wg, int m) {
    const int nv = hs / 8;
    int c0 = 0;
    for (; c0 + 8 <= nv; c0 += 8) accumulate_values(og + 8 * c0, vt + 8 * c0, hs, wg, m, 8);
    for (; c0 < nv; c0++) accumulate_values(og + 8 * c0, vt + 8 * c0, hs, wg, m, 1);
}

/*
 * out_g += sum_p w[g * stride + p] v_p for the run's n rows and every query of the group, a tile of positions at a
 * time (the tile's values stay in cache while each query's accumulator passes over them).
 */
static void weigh_values(float *out, int group, int hs, const float *v, int n, const float *w, int stride) {
    for (int p0 = 0; p0 < n; p0 += TILE) {
        const int m = n - p0 < TILE ? n - p0 : TILE;
        for (int g = 0; g < group; g++) weigh_tile(out + g * hs, v + (int64_t) p0 * hs, hs, w + (int64_t) g * stride + p0, m);
    }
}

/*
 * One query's logits s[0, n) (dots, the last one the compensation row's when nc) become its probabilities: logit,
 * the compensation bias, the softmax (exponentials summed in double, scaled by the float reciprocal of the sum),
 * rounded to F16 with round_f16.
 */
static void probabilities(float *s, int n, int nc, float cbias, float scale, float softcap, int round_f16) {
    /* logits */
    if (softcap > 0) {
        const float inv_cap = 1.0f / softcap;
        for (int p = 0; p < n; p++) s[p] = tanhf(s[p] * inv_cap) * softcap * scale;
    } else {
        int p = 0;
        for (; p + 8 <= n; p += 8) _mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), _mm256_set1_ps(scale)));
        for (; p < n; p++) s[p] *= scale;
    }
    if (nc) s[n - 1] += cbias;
    /* softmax: the maximum, the exponentials summed in double, then scaled */
    float max;
    {
        __m256 mv = _mm256_set1_ps(-INFINITY);
        int p = 0;
        for (; p + 8 <= n; p += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(s + p));
        max = hmax(mv);
        for (; p < n; p++) max = s[p] > max ? s[p] : max;
    }
    double sum = 0;
    {
        __m256d acc = _mm256_setzero_pd();
        int p = 0;
        for (; p + 8 <= n; p += 8) {
            __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(s + p), _mm256_set1_ps(max)));
            _mm256_storeu_ps(s + p, e);
            acc = _mm256_add_pd(acc, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(e)), _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1))));
        }
        double lanes[4];
        _mm256_storeu_pd(lanes, acc);
        sum = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
        for (; p < n; p++) sum += s[p] = exp1(s[p] - max);
    }
    const float inv = (float) (1.0 / sum);
    {
        int p = 0;
        for (; p + 8 <= n; p += 8) {
            __m256 w = _mm256_mul_ps(_mm256_loadu_ps(s + p), _mm256_set1_ps(inv));
            if (round_f16) w = _mm256_cvtph_ps(_mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            _mm256_storeu_ps(s + p, w);
        }
        for (; p < n; p++) {
            float w = s[p] * inv;
            if (round_f16) w = _cvtsh_ss(_cvtss_sh(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            s[p] = w;
        }
    }
}

/*
 * For g in [0, group): out[g * hs + i] = sum_p w_gp v_p[i] with w_g = softmax_p(logit(q_g . k_p)) over the rows
 * k0/v0 (n0 of them), then k1/v1 (n1, from row from1), then, when kc is not NULL, the row kc/vc whose logit gets + cbias.
 * logit(x) = (softcap > 0 ? softcap * tanh(x / softcap) : x) * scale. With round_f16 the probabilities are
 * rounded to F16 before they weight the values. q: group rows of hs floats; scratch: group * (n0 + n1 + 1)
 * floats; out: out_base + out_offset. Returns 0, or -1 when the sizes are beyond this kernel's limits (nothing
 * is written; the caller checks first).
 */
int RS_EXPORT_SHARED(rs_attend)(const float *q, int group, int hs, const float *k0, const float *v0, int n0, const float *k1,
                         const float *v1, int64_t from1, int n1, const float *kc, const float *vc, float cbias, float scale,
                         float softcap, int round_f16, float *scratch, float *out_base, int64_t out_offset) {
    const int nc = kc != 0, n = n0 + n1 + nc;
    if (group < 1 || group > MAX_GROUP || hs < 8 || hs > MAX_HEAD || hs % 8 != 0 || n0 < 0 || n1 < 0 || n < 1) return -1;
    float *out = out_base + out_offset;
    if (n1 > 0) {
        k1 += from1 * hs;
        v1 += from1 * hs;
    }
    dot_rows(q, group, hs, k0, n0, scratch, n);
    dot_rows(q, group, hs, k1, n1, scratch + n0, n);
    if (nc) dot_rows(q, group, hs, kc, 1, scratch + n0 + n1, n);
    for (int g = 0; g < group; g++) probabilities(scratch + (int64_t) g * n, n, nc, cbias, scale, softcap, round_f16);
    /* values, in position order */
    for (int i = 0; i < group * hs; i++) out[i] = 0;
    weigh_values(out, group, hs, v0, n0, scratch, n);
    weigh_values(out, group, hs, v1, n1, scratch + n0, n);
    if (nc) weigh_values(out, group, hs, vc, 1, scratch + n0 + n1, n);
    return 0;
}

/*
 * A FULL head's attention for `tokens` consecutive positions of one sequence (a prefill chunk), each with its GQA
 * group of queries: token t attends over the first n_first + t rows of k/v. The same arithmetic as rs_attend over
 * n_first + t rows, query by query (the same tiles of positions, the same order), so results do not depend on how
 * many tokens share a call; but each tile of keys and values is read once for all the chunk's queries instead of
 * once per token. q and out: tokens * group rows of hs floats; scratch: tokens * group * (n_first + tokens - 1) floats.
 * Returns 0, or -1 when the sizes are beyond this kernel's limits (nothing is written).
 */
int RS_EXPORT_SHARED(rs_attend_causal)(const float *q, int tokens, int group, int hs, const float *k, const float *v, int n_first, float scale,
                                float softcap, int round_f16, float *scratch, float *out) {
    if (tokens < 1 || group < 1 || group > MAX_GROUP || hs < 8 || hs > MAX_HEAD || hs % 8 != 0 || n_first < 1) return -1;
    const int stride = n_first + tokens - 1;
    for (int p0 = 0; p0 < stride; p0 += TILE) { /* dots: token t's queries over its tiles, as dot_rows */
        for (int t = 0; t < tokens; t++) {
            const int n = n_first + t;
            if (n <= p0) continue;
            const int end = n - p0 < TILE ? n : p0 + TILE;
            for (int g = 0; g < group; g++) dot_tile(q + (int64_t) (t * group + g) * hs, hs, k, p0, end, scratch + (int64_t) (t * group + g) * stride);
        }
    }
    for (int t = 0; t < tokens; t++)
        for (int g = 0; g < group; g++) probabilities(scratch + (int64_t) (t * group + g) * stride, n_first + t, 0, 0, scale, softcap, round_f16);
    for (int i = 0; i < tokens * group * hs; i++) out[i] = 0;
    for (int p0 = 0; p0 < stride; p0 += TILE) { /* values, as weigh_values */
        for (int t = 0; t < tokens; t++) {
            const int n = n_first + t;
            if (n <= p0) continue;
            const int m = n - p0 < TILE ? n - p0 : TILE;
            for (int g = 0; g < group; g++) {
                weigh_tile(out + (int64_t) (t * group + g) * hs, v + (int64_t) p0 * hs, hs, scratch + (int64_t) (t * group + g) * stride + p0, m);
            }
        }
    }
    return 0;
}
