/*
 * Block layouts shared by kernels.c and repack.c: ggml's (bytes per block; elements per block QK or super-block
 * QK_K), this tier's 8-row panels (bytes per block of eight rows), and the unpacking of the K-quants' 6-bit scales.
 */
#ifndef RS_BLOCKS_H
#define RS_BLOCKS_H

#include <stdint.h>
#include <string.h>

#define QK 32
#define QK_K 256
#define Q8_0_BLOCK 34  /* f16 d, 32 int8 quants */
#define Q4_0_BLOCK 18  /* f16 d, 32 4-bit quants */
#define Q4_K_BLOCK 144 /* f16 d, f16 dmin, 12 scale bytes, 128 quant bytes */
#define Q5_K_BLOCK 176 /* Q4_K's, and 32 bytes of fifth bits before the quants */
#define Q6_K_BLOCK 210 /* 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, f16 d */

#define Q8_0_PANEL_BLOCK 272  /* 8 f16 scales, 8 chunks of 32 quant bytes */
#define Q4_0_PANEL_BLOCK 144  /* 8 f16 scales, 4 chunks of 32 quant bytes */
#define Q4_K_PANEL_BLOCK 1184 /* 16 d + 16 dmin + 64 scales + 64 mins + 1024 quants */
#define Q5_K_PANEL_BLOCK 1440 /* Q4_K's panel, then 256 bytes of fifth bits */
#define Q6_K_PANEL_BLOCK 1680 /* 16 d + 128 scales + 1024 low-nibble bytes + 512 high-pair bytes */

/*
 * Q4_K / Q5_K: the eight 6-bit scales (bytes 0..7 of out) and mins (bytes 8..15) of a super-block, unpacked
 * from ggml's 12 bytes with 32-bit word operations: scales 0..3 and mins 0..3 are the low six bits of bytes
 * 0..3 and 4..7; scales and mins 4..7 take a nibble of bytes 8..11 and the top two bits of bytes 0..7.
 */
static inline void scales_mins(const uint8_t *s, uint8_t out[16]) {
    uint32_t u[3], r[4];
    memcpy(u, s, 12);
    r[0] = u[0] & 0x3f3f3f3f;
    r[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    r[2] = u[1] & 0x3f3f3f3f;
    r[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    memcpy(out, r, 16);
}

#endif
