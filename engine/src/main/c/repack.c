/*
 * Weight layouts the kernels read instead of ggml's: compiled once, without ISA flags (plain byte moves).
 */
#include <stdint.h>
#include <string.h>

#define RS_EXPORT __attribute__((visibility("default")))

#define Q4_0_BLOCK 18        /* f16 d, 16 bytes of nibbles */
#define Q4_0_PANEL_BLOCK 144 /* kernels.c: 8 f16 scales, 4 chunks of 32 quant bytes */

/*
 * Q4_0 rows [0, rows) of cols columns (rb = cols / 32 * 18 bytes apart) into kernels.c's 8-row panels at dst, which
 * holds ceil(rows / 8) * 8 * rb bytes; rows past the end are zeros. Panel p, block b, row r: the scale at 2r, quant
 * bytes 4j..4j+3 at 16 + 32j + 4r.
 */
RS_EXPORT void rs_repack_q4_0(const uint8_t *src, int64_t rb, int rows, int cols, uint8_t *dst) {
    const int nb = cols / 32, panels = (rows + 7) / 8;
    memset(dst, 0, (size_t) panels * 8 * (size_t) rb);
    for (int p = 0; p < panels; p++)
        for (int r = 0; r < 8 && 8 * p + r < rows; r++) {
            const uint8_t *row = src + (int64_t) (8 * p + r) * rb;
            uint8_t *panel = dst + (int64_t) p * 8 * rb;
            for (int b = 0; b < nb; b++) {
                const uint8_t *blk = row + (int64_t) b * Q4_0_BLOCK;
                uint8_t *out = panel + (int64_t) b * Q4_0_PANEL_BLOCK;
                memcpy(out + 2 * r, blk, 2);
                for (int j = 0; j < 4; j++) memcpy(out + 16 + 32 * j + 4 * r, blk + 2 + 4 * j, 4);
            }
        }
}
