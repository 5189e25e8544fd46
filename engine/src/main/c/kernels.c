/*
 * RazorStream native kernel tier: weight matrix times activations for the quantised and 16-bit types.
 *
 * This file is compiled once per instruction-set variant (see build.sh): RS_ISA names the variant and
 * becomes the suffix of the exported entry point, rs_gemm_<RS_ISA>. The variants differ only in the
 * int8 multiply-add primitive (VNNI's vpdpbusd where the CPU has it, vpmaddubsw + vpmaddwd on AVX2);
 * neither saturates for the value ranges here, so both give the same integers and the same results.
 *
 * Numerics: every (row, token) pair is computed by the same instruction sequence whatever tile it falls
 * in, so matrix-vector (decode) and matrix-matrix (prefill) results are identical, and identical for any
 * split of rows across threads. The quantised types run on their weights repacked into 8-row panels (repack.c;
 * see "Q8_0 in 8-row panels"): each row's block sum is one exact integer, scaled and added in block order. F16 and
 * BF16 sum in eight float lanes per row with one fixed horizontal sum.
 *
 * Activation layouts (written by the Java side, NativeKernels):
 *   Q8_0 input (for Q8_0 weights):       int8 q[cols], then float d[cols / 32]
 *   Q4_0 input:                          the Q8_0 input, then per block one int32: 8 x the sum of its q, the
 *                                        term the unsigned nibbles leave out
 *   Q8_K input (for Q4_K, Q5_K, Q6_K):   int8 q[cols], then float d[cols / 256], then int16 bsum[cols / 16]
 *   F16 / BF16 weights:                   float x[cols], already rounded to the weight's format
 * Outputs: out[t * out_stride + (r - r0)] for rows [r0, r1) and tokens [0, nt).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "blocks.h"
#include "simd.h"

#ifndef RS_ISA
#error "RS_ISA must name the variant (avx2, avx512)"
#endif

/* ggml type codes of the types read where they lie */
enum { T_F16 = 1, T_BF16 = 30 };
/*
 * Not ggml types: the quantised types' weights repacked by repack.c, the only forms of them this tier multiplies;
 * 1000 + the ggml code (NativeKernels.PANEL_CODE). Tiles of the panels: one panel x PANEL_TOKENS inputs.
 */
#define T_Q8_0_PANELS 1008
#define T_Q4_0_PANELS 1002
#define T_Q4_K_PANELS 1012
#define T_Q5_K_PANELS 1013
#define T_Q6_K_PANELS 1014
#define PANEL_TOKENS 4

/*
 * F16 / BF16 register tiles (rows x tokens), measured on one AVX2 core with 128 tokens from L2 (GMAC/s): 4x3 34.7 vs
 * 2x3 20.7. (The quantised types run in 8-row panels of 4 tokens.)
 */
#define MAX_RM 4
#define MAX_RN 4
/*
 * Decode (fewer than MIN_TILE_TOKENS inputs) is bound by memory bandwidth: F16 rows, and the quantised types' panels,
 * are streamed with a software prefetch PREFETCH bytes ahead, which took one core from ~0.6 to ~0.95 of its plain
 * read bandwidth (four interleaved rows did not reach it with or without prefetching).
 */
#define MIN_TILE_TOKENS 4
#define PREFETCH 2048

INLINE float f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Lane k: sum over bytes 4k..4k+3 of unsigned a times signed b (exact: at most 4 * 255 * 128 in magnitude). */
INLINE __m256i dot_u8s8(__m256i a, __m256i b) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#else
    /* pairs of products fit int16 here: |a| <= 128 (sign trick) or <= 63 (K-quants), |b| <= 127 */
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
#endif
}

INLINE __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *) p); }

/* Prefetches the weights PREFETCH bytes past [p, p + bytes), one request per cache line. */
INLINE void prefetch_lines(const uint8_t *p, const int bytes) {
    for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *) p + o, _MM_HINT_T0);
}

INLINE void prefetch_ahead(const uint8_t *p, const int bytes) {
    prefetch_lines(p + PREFETCH, bytes);
}

/*
 * A row tile's weights: a row on its own (decode) prefetches PREFETCH bytes ahead in the row; a tile of nr rows
 * prefetches the same bytes of the next tile's rows (nr rows further), so that with few tokens the arithmetic and the
 * weight stream overlap instead of taking turns (8-token passes: 52 -> 69 tokens/s on a Xeon, docs/PERFORMANCE.md).
 */
INLINE void prefetch_weights(const uint8_t *blk, int64_t rb, const int nr, const int bytes) {
    if (nr == 1) prefetch_ahead(blk, bytes);
    else prefetch_lines(blk + nr * rb, bytes);
}

/* ---------------------------------------------------------------- F16 and BF16 (float activations) */

INLINE __m256 widen8(const uint8_t *p, const int bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *) p);
    if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

INLINE float widen1(const uint8_t *p, const int bf16) {
    uint16_t h;
    memcpy(&h, p, 2);
    if (bf16) {
        uint32_t u = (uint32_t) h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    return _cvtsh_ss(h);
}

INLINE void tile_half(const uint8_t *w, int64_t rb, int cols, const uint8_t *act, int64_t as,
                      float *out, int64_t os, const int nr, const int nt, const int bf16) {
    __m256 acc[MAX_RM][MAX_RN];
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nt; j++) acc[i][j] = _mm256_setzero_ps();
    int cv = cols / 8 * 8;
    for (int k = 0; k < cv; k += 8) {
        __m256 x[MAX_RN];
        for (int j = 0; j < nt; j++) x[j] = _mm256_loadu_ps((const float *) (act + j * as) + k);
        for (int i = 0; i < nr; i++) {
            if ((k & 31) == 0) prefetch_weights(w + i * rb + 2 * k, rb, nr, 64);
            __m256 wv = widen8(w + i * rb + 2 * k, bf16);
            for (int j = 0; j < nt; j++) acc[i][j] = _mm256_fmadd_ps(wv, x[j], acc[i][j]);
        }
    }
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nt; j++) {
            const float *x = (const float *) (act + j * as);
            float s = hsum(acc[i][j]);
            for (int k = cv; k < cols; k++) s += widen1(w + i * rb + 2 * k, bf16) * x[k];
            out[j * os + i] = s;
        }
}

/* ---------------------------------------------------------------- tiling over rows and tokens */

/* One rs_gemm call's operands: the walks and the tile macros read them through this, and nothing else. */
typedef struct {
    const uint8_t *w;   /* the whole matrix, row r at w + r * rb */
    int64_t rb;
    int r0, r1, cols;   /* rows [r0, r1) of cols columns */
    const uint8_t *act; /* nt activations, as bytes apart */
    int64_t as;
    int nt;
    float *out;         /* out[t * os + (r - r0)] */
    int64_t os;
} gemm_call;

/*
 * Walks g's rows in rm-row tiles and tokens in rn-token tiles; the edges use one-row / one-token tiles, and
 * so does decode (see MIN_TILE_TOKENS). Every tile computes a pair the same way, so the walk does not
 * change any result.
 */
#define WALK(g, rm, rn, TILE)                                                                        \
    for (int r = (g)->r0; r < (g)->r1;) {                                                            \
        const int full_rows = (g)->r1 - r >= (rm) && (g)->nt >= MIN_TILE_TOKENS;                     \
        const uint8_t *wr = (g)->w + (int64_t) r * (g)->rb;                                          \
        float *o = (g)->out + (r - (g)->r0);                                                         \
        int t = 0;                                                                                   \
        if (full_rows) {                                                                             \
            for (; t + (rn) <= (g)->nt; t += (rn)) TILE(g, wr, (g)->act + t * (g)->as, o + t * (g)->os, (rm), (rn)); \
            for (; t < (g)->nt; t++) TILE(g, wr, (g)->act + t * (g)->as, o + t * (g)->os, (rm), 1);  \
            r += (rm);                                                                               \
        } else {                                                                                     \
            for (; t + (rn) <= (g)->nt; t += (rn)) TILE(g, wr, (g)->act + t * (g)->as, o + t * (g)->os, 1, (rn)); \
            for (; t < (g)->nt; t++) TILE(g, wr, (g)->act + t * (g)->as, o + t * (g)->os, 1, 1);    \
            r += 1;                                                                                  \
        }                                                                                            \
    }

/* ---------------------------------------------------------------- Q8_0 in 8-row panels */

/*
 * Q8_0 weights repacked by rs_repack_q8_0 (repack.c): rows 8p..8p+7 form panel p, at w + p * 8 * rb (rb: the Q8_0 row's
 * bytes). Per block, 272 bytes: the eight rows' f16 scales, then eight 32-byte chunks; chunk j holds, at bytes 4r..4r+3,
 * row r's quants 4j..4j+3. As in the Q4_0 panels below, each int32 lane is one row and a row's block sum comes out
 * whole and exact (llama.cpp's sign trick: |w| times y with w's sign), then float(sum) * (dw * dy) is added per row in
 * block order. The Java tier keeps llama.cpp's own order (eight lanes per row); the two agree to float rounding.
 */

/* Panel pw times nt inputs: sums[t][r] for its 8 rows. */
INLINE void panel_q8_0(const uint8_t *pw, int nb, const uint8_t *act, int64_t as, int cols, float sums[][8],
                       const int nt) {
    __m256 acc[PANEL_TOKENS];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = pw + (int64_t) b * Q8_0_PANEL_BLOCK;
        if (nt == 1) prefetch_ahead(blk, Q8_0_PANEL_BLOCK); /* decode: the panels are one stream */
        __m256i s[PANEL_TOKENS];
        for (int t = 0; t < nt; t++) s[t] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            __m256i q = load32(blk + 16 + 32 * j), aq = _mm256_sign_epi8(q, q);
            for (int t = 0; t < nt; t++) {
                int32_t y;
                memcpy(&y, act + t * as + 32 * b + 4 * j, 4);
                s[t] = _mm256_add_epi32(s[t], dot_u8s8(aq, _mm256_sign_epi8(_mm256_set1_epi32(y), q)));
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) blk));
        for (int t = 0; t < nt; t++) {
            float dy;
            memcpy(&dy, act + t * as + cols + 4 * b, 4);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_mul_ps(dw, _mm256_set1_ps(dy)), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm256_storeu_ps(sums[t], acc[t]);
}

/* ---------------------------------------------------------------- Q4_0 in 8-row panels */

/*
 * Q4_0 weights repacked by rs_repack_q4_0 (repack.c): rows 8p..8p+7 form panel p, at w + p * 8 * rb (rb: the Q4_0 row's
 * bytes, so a panel takes the space of its eight rows). Per block, 144 bytes: the eight rows' f16 scales, then four
 * 32-byte chunks; chunk j holds, at bytes 4r..4r+3, row r's quant bytes 4j..4j+3 (low nibbles: elements 4j..4j+3, high
 * nibbles: elements 16+4j..16+4j+3). The rows past the matrix's end are zeros.
 *
 * So one 32-bit broadcast of the input meets four elements of all eight rows: each int32 lane is one row, a row's block
 * sum comes out whole and exact (no lanes to add across), and the f16 scales, the conversion and the fused multiply-add
 * serve eight rows at once. Per row, every block adds float(sum) * (dw * dy) to one float in block order, whatever
 * the tile or the thread's share of rows, so decode and prefill agree bit for bit. The nibbles are unsigned; the
 * input's per-block 8 x sum(q) (see the Q4_0 input) takes the offset of 8 off.
 */

/* Panel pw times nt inputs: sums[t][r] for its 8 rows. */
INLINE void panel_q4_0(const uint8_t *pw, int nb, const uint8_t *act, int64_t as, int cols, float sums[][8],
                       const int nt) {
    __m256 acc[PANEL_TOKENS];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = pw + (int64_t) b * Q4_0_PANEL_BLOCK;
        if (nt == 1) prefetch_ahead(blk, Q4_0_PANEL_BLOCK); /* decode: the panels are one stream */
        __m256i s[PANEL_TOKENS];
        for (int t = 0; t < nt; t++) s[t] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i q = load32(blk + 16 + 32 * j);
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            for (int t = 0; t < nt; t++) {
                const uint8_t *y = act + t * as + 32 * b;
                int32_t y_lo, y_hi;
                memcpy(&y_lo, y + 4 * j, 4);
                memcpy(&y_hi, y + 16 + 4 * j, 4);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
                s[t] = _mm256_dpbusd_epi32(s[t], lo, _mm256_set1_epi32(y_lo));
                s[t] = _mm256_dpbusd_epi32(s[t], hi, _mm256_set1_epi32(y_hi));
#else
                /* int16 pairs: each at most 2 * 15 * 127, eight of them at most 30480, so the int16 sum is exact */
                s[t] = _mm256_add_epi16(s[t], _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_set1_epi32(y_lo)),
                                                               _mm256_maddubs_epi16(hi, _mm256_set1_epi32(y_hi))));
#endif
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) blk));
        for (int t = 0; t < nt; t++) {
            const uint8_t *in = act + t * as + cols;
            float dy;
            int32_t offset;
            memcpy(&dy, in + 4 * b, 4);
            memcpy(&offset, in + 4 * nb + 4 * b, 4);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
            __m256i rows = s[t];
#else
            __m256i rows = _mm256_madd_epi16(s[t], _mm256_set1_epi16(1));
#endif
            rows = _mm256_sub_epi32(rows, _mm256_set1_epi32(offset));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(rows), _mm256_mul_ps(dw, _mm256_set1_ps(dy)), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm256_storeu_ps(sums[t], acc[t]);
}

/* ---------------------------------------------------------------- Q4_K and Q5_K in 8-row panels */

/*
 * Q4_K weights repacked by rs_repack_q4_k (repack.c): panel p holds rows 8p..8p+7, Q4_K_PANEL_BLOCK bytes per
 * super-block, at w + p * (cols / 256) * Q4_K_PANEL_BLOCK. Per super-block: the eight rows' f16 d (bytes 0..15) and
 * dmin (16..31); the 6-bit scales unpacked, sub-block j's at 32 + 8j + r; the mins unpacked and paired, sub-blocks 2p
 * and 2p + 1 at 96 + 16p + 2r and + 1; then 32 chunks of 32 quant bytes, chunk 8c + k holding row r's quant bytes
 * 32c + 4k .. 32c + 4k + 3 at 4r (low nibbles: sub-block 2c, elements 4k..4k+3; high nibbles: sub-block 2c + 1).
 *
 * As with Q4_0, each int32 lane is one row: a sub-block's 32 products stay exact in int16 on AVX2 (eight pairs of at
 * most 2 * 15 * 127), are scaled by the row's 6-bit scale into the super-block's int32 sum, and the mins' term
 * (min_j * the input's sub-block sums) is another exact int32; per row, per super-block, float(sum) * (d * dy) and
 * float(mins) * (dmin * dy) go into two floats, subtracted at the end.
 */

/* The eight rows' scale of one sub-block as int16 pairs (s, s), the vpmaddwd operand that multiplies a row's pair sum. */
INLINE __m256i panel_scales(const uint8_t *p) {
    __m128i s = _mm_loadl_epi64((const __m128i *) p);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(s, s));
}

/*
 * Panel pw times nt Q8_K inputs: sums[t][r] for its 8 rows. five: Q5_K, whose panel appends each sub-block's fifth
 * bits (Q5_K_PANEL_BLOCK: chunk j at 1184 + 32j holds at 4r + i, bit a, the fifth bit of row r's element 32j + 4a + i);
 * its quants reach 31, so its int16 sums take four products' pairs (at most 4 * 2 * 31 * 127) before widening.
 */
INLINE void panel_q45k(const uint8_t *pw, int nb, const uint8_t *act, int64_t as, int cols, float sums[][8],
                       const int nt, const int five) {
    __m256 acc[PANEL_TOKENS], accm[PANEL_TOKENS];
    for (int t = 0; t < nt; t++) acc[t] = accm[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const int quads = five ? 4 : 8; /* quads summed in int16 before widening */
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = pw + (int64_t) b * (five ? Q5_K_PANEL_BLOCK : Q4_K_PANEL_BLOCK);
        __m256i sum[PANEL_TOKENS];
        for (int t = 0; t < nt; t++) sum[t] = _mm256_setzero_si256();
        for (int part = 0; part < 8 / quads * 4; part++) {
            const int c = part / (8 / quads), k0 = part % (8 / quads) * quads;
            const __m256i h_lo = five ? load32(blk + 1184 + 32 * (2 * c)) : _mm256_setzero_si256();
            const __m256i h_hi = five ? load32(blk + 1184 + 32 * (2 * c + 1)) : _mm256_setzero_si256();
            __m256i s_lo[PANEL_TOKENS], s_hi[PANEL_TOKENS];
            for (int t = 0; t < nt; t++) s_lo[t] = s_hi[t] = _mm256_setzero_si256();
            for (int k = k0; k < k0 + quads; k++) {
                const uint8_t *chunk = blk + 160 + 32 * (8 * c + k);
                if (nt == 1) prefetch_ahead(chunk, 32); /* decode: the panels are one stream */
                __m256i q = load32(chunk);
                __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (five) {
                    /* bit k of each byte to bit 4: 16-bit shifts, but the mask keeps each byte's own bit */
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h_lo, k), one), 4));
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h_hi, k), one), 4));
                }
                for (int t = 0; t < nt; t++) {
                    const uint8_t *y = act + t * as + 256 * b + 64 * c + 4 * k;
                    int32_t y_lo, y_hi;
                    memcpy(&y_lo, y, 4);
                    memcpy(&y_hi, y + 32, 4);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
                    s_lo[t] = _mm256_dpbusd_epi32(s_lo[t], lo, _mm256_set1_epi32(y_lo));
                    s_hi[t] = _mm256_dpbusd_epi32(s_hi[t], hi, _mm256_set1_epi32(y_hi));
#else
                    s_lo[t] = _mm256_add_epi16(s_lo[t], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(y_lo)));
                    s_hi[t] = _mm256_add_epi16(s_hi[t], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(y_hi)));
#endif
                }
            }
            const uint8_t *sc = blk + 32 + 8 * (2 * c);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
            const __m256i sc_lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) sc));
            const __m256i sc_hi = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) (sc + 8)));
            for (int t = 0; t < nt; t++)
                sum[t] = _mm256_add_epi32(sum[t], _mm256_add_epi32(_mm256_mullo_epi32(s_lo[t], sc_lo),
                                                                   _mm256_mullo_epi32(s_hi[t], sc_hi)));
#else
            const __m256i sc_lo = panel_scales(sc), sc_hi = panel_scales(sc + 8);
            for (int t = 0; t < nt; t++)
                sum[t] = _mm256_add_epi32(sum[t], _mm256_add_epi32(_mm256_madd_epi16(s_lo[t], sc_lo),
                                                                   _mm256_madd_epi16(s_hi[t], sc_hi)));
#endif
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) blk));
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (blk + 16)));
        for (int t = 0; t < nt; t++) {
            const uint8_t *in = act + t * as + cols;
            float dy;
            memcpy(&dy, in + 4 * b, 4);
            /* the input's eight sub-block sums (pairs of its 16-element sums), as four (2p, 2p + 1) int16 pairs */
            const int16_t *bs = (const int16_t *) (in + 4 * nb) + 16 * b;
            int32_t ysum[4];
            _mm_storeu_si128((__m128i *) ysum, _mm_hadd_epi16(_mm_loadu_si128((const __m128i *) bs),
                                                                _mm_loadu_si128((const __m128i *) (bs + 8))));
            __m256i mins = _mm256_setzero_si256();
            for (int p = 0; p < 4; p++) {
                __m256i m = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *) (blk + 96 + 16 * p)));
                mins = _mm256_add_epi32(mins, _mm256_madd_epi16(m, _mm256_set1_epi32(ysum[p])));
            }
            const __m256 dyv = _mm256_set1_ps(dy);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), _mm256_mul_ps(d, dyv), acc[t]);
            accm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_mul_ps(dmin, dyv), accm[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm256_storeu_ps(sums[t], _mm256_sub_ps(acc[t], accm[t]));
}

/* ---------------------------------------------------------------- Q6_K in 8-row panels */

/*
 * Q6_K weights repacked by rs_repack_q6_k (repack.c), 1680 bytes per panel and super-block (8 x 210): the eight rows'
 * f16 d (bytes 0..15); the int8 scales, sub-block s's (elements 16s..16s+15) at 16 + 8s + r; 32 nibble chunks, chunk
 * m holding at 4r + i the low four bits of row r's elements 8m + i (low nibble) and 8m + 4 + i (high nibble); then 16
 * chunks of high bit pairs, chunk n holding at 4r + i those of elements 16n + 4a + i at bits 2a..2a+1 (a = 0..3).
 *
 * Per sub-block, two pairs of quads (elements 0..7 and 8..15) stay exact in int16 on AVX2 (2 * 2 * 63 * 127), and
 * vpmaddwd applies the row's scale to each; the offset of 32 is 32 * sum_s scale_s * (the input's 16-sum s), an exact
 * int32 per row. Per row and super-block, float(sum) * (d * dy) is added in order.
 */

/* Sub-block s's 6-bit quants (0..63), one quad of 4 elements per vector, each int32 lane a row. */
INLINE void panel_q6k_quants(const uint8_t *blk, const int s, __m256i q[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const __m256i n0 = load32(blk + 144 + 32 * (2 * s)), n1 = load32(blk + 144 + 32 * (2 * s + 1));
    const __m256i h = load32(blk + 144 + 1024 + 32 * s);
    q[0] = _mm256_or_si256(_mm256_and_si256(n0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n0, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(n1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n1, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
}

/* Panel pw times nt Q8_K inputs: sums[t][r] for its 8 rows. */
INLINE void panel_q6_k(const uint8_t *pw, int nb, const uint8_t *act, int64_t as, int cols, float sums[][8],
                       const int nt) {
    __m256 acc[PANEL_TOKENS];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = pw + (int64_t) b * Q6_K_PANEL_BLOCK;
        __m256i sum[PANEL_TOKENS];
        for (int t = 0; t < nt; t++) sum[t] = _mm256_setzero_si256();
        for (int s = 0; s < 16; s++) {
            if (nt == 1) prefetch_ahead(blk + 105 * s, 105); /* decode: the panels are one stream */
            __m256i q[4];
            panel_q6k_quants(blk, s, q);
            const __m128i sc8 = _mm_loadl_epi64((const __m128i *) (blk + 16 + 8 * s));
            for (int t = 0; t < nt; t++) {
                const uint8_t *y = act + t * as + 256 * b + 16 * s;
                int32_t yq[4];
                memcpy(yq, y, 16);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
                __m256i p = _mm256_setzero_si256();
                for (int a = 0; a < 4; a++) p = _mm256_dpbusd_epi32(p, q[a], _mm256_set1_epi32(yq[a]));
                sum[t] = _mm256_add_epi32(sum[t], _mm256_mullo_epi32(p, _mm256_cvtepi8_epi32(sc8)));
#else
                const __m256i scale = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(sc8, sc8)); /* (s, s) per row */
                __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(q[0], _mm256_set1_epi32(yq[0])),
                                               _mm256_maddubs_epi16(q[1], _mm256_set1_epi32(yq[1])));
                __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(q[2], _mm256_set1_epi32(yq[2])),
                                               _mm256_maddubs_epi16(q[3], _mm256_set1_epi32(yq[3])));
                sum[t] = _mm256_add_epi32(sum[t], _mm256_add_epi32(_mm256_madd_epi16(p01, scale),
                                                                   _mm256_madd_epi16(p23, scale)));
#endif
            }
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) blk));
        for (int t = 0; t < nt; t++) {
            const uint8_t *in = act + t * as + cols;
            float dy;
            memcpy(&dy, in + 4 * b, 4);
            /* 32 * sum_s scale_s * (16-sum s of y), sub-blocks in pairs (2p, 2p + 1) through vpmaddwd */
            const uint8_t *bs = in + 4 * nb + 32 * b;
            __m256i offset = _mm256_setzero_si256();
            for (int p = 0; p < 8; p++) {
                __m128i pair = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *) (blk + 16 + 16 * p)),
                                                 _mm_loadl_epi64((const __m128i *) (blk + 24 + 16 * p)));
                int32_t ys;
                memcpy(&ys, bs + 4 * p, 4);
                offset = _mm256_add_epi32(offset, _mm256_madd_epi16(_mm256_cvtepi8_epi16(pair), _mm256_set1_epi32(ys)));
            }
            __m256i rows = _mm256_sub_epi32(sum[t], _mm256_slli_epi32(offset, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(rows), _mm256_mul_ps(d, _mm256_set1_ps(dy)), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm256_storeu_ps(sums[t], acc[t]);
}

/*
 * The panels that hold rows [r0, r1), (cols / qk) blocks of panel_block bytes each, in tiles of PANEL_TOKENS inputs
 * and then one at a time; each panel's rows outside [r0, r1) are dropped. PANEL(g, pw, act, sums, nt) multiplies one
 * panel.
 */
#define WALK_PANELS(g, qk, panel_block, PANEL)                                                       \
    do {                                                                                             \
        float sums[PANEL_TOKENS][8];                                                                 \
        for (int p = (g)->r0 / 8; 8 * p < (g)->r1; p++) {                                            \
            const uint8_t *pw = (g)->w + (int64_t) p * ((g)->cols / (qk)) * (panel_block);           \
            const int lo = 8 * p < (g)->r0 ? (g)->r0 - 8 * p : 0;                                     \
            const int hi = (g)->r1 - 8 * p < 8 ? (g)->r1 - 8 * p : 8;                                \
            for (int t = 0; t < (g)->nt;) {                                                          \
                const int n = (g)->nt - t >= PANEL_TOKENS ? PANEL_TOKENS : 1;                        \
                if (n == PANEL_TOKENS) PANEL(g, pw, (g)->act + t * (g)->as, sums, PANEL_TOKENS);    \
                else PANEL(g, pw, (g)->act + t * (g)->as, sums, 1);                                  \
                for (int k = 0; k < n; k++)                                                          \
                    for (int r = lo; r < hi; r++) (g)->out[(t + k) * (g)->os + (8 * p + r - (g)->r0)] = sums[k][r]; \
                t += n;                                                                              \
            }                                                                                        \
        }                                                                                            \
    } while (0)
#define Q8_0_PANEL(g, pw, act, sums, nt) panel_q8_0(pw, (g)->cols / QK, act, (g)->as, (g)->cols, sums, nt)
#define Q4_0_PANEL(g, pw, act, sums, nt) panel_q4_0(pw, (g)->cols / QK, act, (g)->as, (g)->cols, sums, nt)
#define Q4_K_PANEL(g, pw, act, sums, nt) panel_q45k(pw, (g)->cols / QK_K, act, (g)->as, (g)->cols, sums, nt, 0)
#define Q5_K_PANEL(g, pw, act, sums, nt) panel_q45k(pw, (g)->cols / QK_K, act, (g)->as, (g)->cols, sums, nt, 1)
#define Q6_K_PANEL(g, pw, act, sums, nt) panel_q6_k(pw, (g)->cols / QK_K, act, (g)->as, (g)->cols, sums, nt)

#define F16_TILE(g, W, A, O, NR, NT) tile_half(W, (g)->rb, (g)->cols, A, (g)->as, O, (g)->os, NR, NT, 0)
#define BF16_TILE(g, W, A, O, NR, NT) tile_half(W, (g)->rb, (g)->cols, A, (g)->as, O, (g)->os, NR, NT, 1)

/*
 * out[out_off + t * os + (r - r0)] = row r of w . activation t, for r in [r0, r1), t in [0, nt).
 * w: the whole matrix (row r at w + r * rb); act: nt activations, as bytes apart.
 * Returns 0, or -1 for a type this tier does not cover (the caller checks first; nothing is written).
 */
int RS_EXPORT(rs_gemm)(int type, const uint8_t *w, int64_t rb, int r0, int r1, int cols,
                       const uint8_t *act, int64_t as, int nt, float *out, int64_t out_off, int64_t os) {
    const gemm_call call = {w, rb, r0, r1, cols, act, as, nt, out + out_off, os}, *g = &call;
    switch (type) {
    case T_Q8_0_PANELS: WALK_PANELS(g, QK, Q8_0_PANEL_BLOCK, Q8_0_PANEL); return 0;
    case T_Q4_0_PANELS: WALK_PANELS(g, QK, Q4_0_PANEL_BLOCK, Q4_0_PANEL); return 0;
    case T_Q4_K_PANELS: WALK_PANELS(g, QK_K, Q4_K_PANEL_BLOCK, Q4_K_PANEL); return 0;
    case T_Q5_K_PANELS: WALK_PANELS(g, QK_K, Q5_K_PANEL_BLOCK, Q5_K_PANEL); return 0;
    case T_Q6_K_PANELS: WALK_PANELS(g, QK_K, Q6_K_PANEL_BLOCK, Q6_K_PANEL); return 0;
    case T_F16: WALK(g, 4, 3, F16_TILE) return 0;
    case T_BF16: WALK(g, 4, 3, BF16_TILE) return 0;
    default: return -1;
    }
}
