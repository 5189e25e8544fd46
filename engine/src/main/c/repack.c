/*
 * Weight layouts the kernels read instead of ggml's (kernels.c: "... in 8-row panels"): compiled once, without ISA
 * flags (plain byte moves). Every rs_repack_* takes rows [0, rows) of cols columns, rb bytes apart, and writes
 * ceil(rows / 8) panels of eight rows to dst; rows past the end are zeros.
 */
#include <stdint.h>
#include <string.h>

#include "blocks.h"

#define RS_EXPORT __attribute__((visibility("default")))

/* Writes row r's part of one panel block: blk is the row's ggml block, out the panel's block. */
typedef void (*block_repack)(const uint8_t *blk, uint8_t *out, int r);

/* Every (panel, row, block) of a matrix with blocks of qk elements, block bytes, panel_block bytes per panel block. */
static void repack(const uint8_t *src, int64_t rb, int rows, int cols, uint8_t *dst, int qk, int block,
                   int panel_block, block_repack write) {
    const int nb = cols / qk, panels = (rows + 7) / 8;
    memset(dst, 0, (size_t) panels * (size_t) nb * (size_t) panel_block);
    for (int p = 0; p < panels; p++)
        for (int r = 0; r < 8 && 8 * p + r < rows; r++) {
            const uint8_t *row = src + (int64_t) (8 * p + r) * rb;
            uint8_t *panel = dst + (int64_t) p * nb * panel_block;
            for (int b = 0; b < nb; b++) write(row + (int64_t) b * block, panel + (int64_t) b * panel_block, r);
        }
}

/* Q8_0 and Q4_0 (chunks of 4 quant bytes: 8 and 4): the scale at 2r, quant bytes 4j..4j+3 at 16 + 32j + 4r. */
static void block_32(const uint8_t *blk, uint8_t *out, int r, int chunks) {
    memcpy(out + 2 * r, blk, 2);
    for (int j = 0; j < chunks; j++) memcpy(out + 16 + 32 * j + 4 * r, blk + 2 + 4 * j, 4);
}

static void block_q8_0(const uint8_t *blk, uint8_t *out, int r) {
    block_32(blk, out, r, 8);
}

static void block_q4_0(const uint8_t *blk, uint8_t *out, int r) {
    block_32(blk, out, r, 4);
}

/*
 * Q4_K (five = 0) and Q5_K: d at 2r, dmin at 16 + 2r, sub-block j's scale at 32 + 8j + r, the mins of sub-blocks 2p
 * and 2p + 1 at 96 + 16p + 2r and + 1, quant bytes 32c + 4k .. + 3 at 160 + 32 (8c + k) + 4r; for Q5_K then the fifth
 * bit of element 32j + 4a + i at 1184 + 32j + 4r + i, bit a.
 */
static void block_q45k(const uint8_t *blk, uint8_t *out, int r, int five) {
    const uint8_t *qh = blk + 16, *qs = blk + (five ? 48 : 16);
    memcpy(out + 2 * r, blk, 2);
    memcpy(out + 16 + 2 * r, blk + 2, 2);
    uint8_t sm[16];
    scales_mins(blk + 4, sm);
    for (int j = 0; j < 8; j++) {
        out[32 + 8 * j + r] = sm[j];
        out[96 + 16 * (j / 2) + 2 * r + (j % 2)] = sm[8 + j];
    }
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 8; k++) memcpy(out + 160 + 32 * (8 * c + k) + 4 * r, qs + 32 * c + 4 * k, 4);
    if (five)
        for (int j = 0; j < 8; j++)
            for (int i = 0; i < 4; i++) {
                int bits = 0;
                for (int a = 0; a < 8; a++) bits |= ((qh[4 * a + i] >> j) & 1) << a;
                out[1184 + 32 * j + 4 * r + i] = (uint8_t) bits;
            }
}

static void block_q4_k(const uint8_t *blk, uint8_t *out, int r) {
    block_q45k(blk, out, r, 0);
}

static void block_q5_k(const uint8_t *blk, uint8_t *out, int r) {
    block_q45k(blk, out, r, 1);
}

/* Element e (0..255) of a Q6_K super-block, unsigned (0..63): ggml's low nibbles (ql) and high bit pairs (qh). */
static int q6k_value(const uint8_t *blk, int e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    const uint8_t low = blk[64 * h + l + (k & 1) * 32];
    return ((k < 2 ? low : low >> 4) & 0x0F) | (((blk[128 + 32 * h + l] >> (2 * k)) & 3) << 4);
}

/*
 * Q6_K: d at 2r, sub-block s's scale at 16 + 8s + r, the low nibbles of elements 8m + i and 8m + 4 + i at
 * 144 + 32m + 4r + i, the high bit pairs of elements 16n + 4a + i (a = 0..3) at 1168 + 32n + 4r + i.
 */
static void block_q6_k(const uint8_t *blk, uint8_t *out, int r) {
    memcpy(out + 2 * r, blk + 208, 2);
    for (int s = 0; s < 16; s++) out[16 + 8 * s + r] = blk[192 + s];
    for (int m = 0; m < 32; m++)
        for (int i = 0; i < 4; i++)
            out[144 + 32 * m + 4 * r + i] =
                    (uint8_t) ((q6k_value(blk, 8 * m + i) & 0x0F) | ((q6k_value(blk, 8 * m + 4 + i) & 0x0F) << 4));
    for (int n = 0; n < 16; n++)
        for (int i = 0; i < 4; i++) {
            int pairs = 0;
            for (int a = 0; a < 4; a++) pairs |= (q6k_value(blk, 16 * n + 4 * a + i) >> 4) << (2 * a);
            out[144 + 1024 + 32 * n + 4 * r + i] = (uint8_t) pairs;
        }
}

RS_EXPORT void rs_repack_q8_0(const uint8_t *src, int64_t rb, int rows, int cols, uint8_t *dst) {
    repack(src, rb, rows, cols, dst, QK, Q8_0_BLOCK, Q8_0_PANEL_BLOCK, block_q8_0);
}

RS_EXPORT void rs_repack_q4_0(const uint8_t *src, int64_t rb, int rows, int cols, uint8_t *dst) {
    repack(src, rb, rows, cols, dst, QK, Q4_0_BLOCK, Q4_0_PANEL_BLOCK, block_q4_0);
}

RS_EXPORT void rs_repack_q4_k(const uint8_t *src, int64_t rb, int rows, int cols, uint8_t *dst) {
    repack(src, rb, rows, cols, dst, QK_K, Q4_K_BLOCK, Q4_K_PANEL_BLOCK, block_q4_k);
}

RS_EXPORT void rs_repack_q5_k(const uint8_t *src, int64_t rb, int rows, int cols, uint8_t *dst) {
    repack(src, rb, rows, cols, dst, QK_K, Q5_K_BLOCK, Q5_K_PANEL_BLOCK, block_q5_k);
}

RS_EXPORT void rs_repack_q6_k(const uint8_t *src, int64_t rb, int rows, int cols, uint8_t *dst) {
    repack(src, rb, rows, cols, dst, QK_K, Q6_K_BLOCK, Q6_K_PANEL_BLOCK, block_q6_k);
}
