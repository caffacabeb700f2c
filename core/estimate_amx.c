/* The estimators' bf16 register tile on AMX tiles (the amxbf16 CPU path):
 * SP_EST_MR packed rows times one strip of SP_EST_NR packed columns, the
 * same product as estimate_gemm.c's vdpbf16ps tile, a depth step of 32
 * elements (16 pairs) per tile product. The strip's layout (pairs of
 * elements, SP_EST_NR columns a pair row) is the B-tile layout: a tile of
 * 16 pair rows and 16 columns is the strip read with a 128-byte row step,
 * so nothing is repacked. On a processor with AMX the vertical-slash and
 * antidiagonal products otherwise ran at the vdpbf16ps rate, a third or
 * more of an estimate that the tiles do several times faster.
 *
 * Compiled with the AMX flags where the compiler has them
 * (core/CMakeLists.txt) and called only on that path, where cpu/isa.c has
 * been granted the tile state. */
#include "estimate.h"

#include "cpu/amx_tiles.h"

_Static_assert(SP_EST_MR == 8 && SP_EST_NR == 32, "the tiles below are 8 rows by 2 x 16 columns");

int sp_est_amx_built(void) { return SP_CPU_HAVE_AMX; }

#if SP_CPU_HAVE_AMX

/* Tiles 0 and 1: the 8 x 16 sums of the strip's two column halves; 2: the
 * rows' 32 elements of one depth step; 3 and 4: the halves' 16 pair rows. */
void sp_est_amx_begin(void) {
  static const uint8_t rows[8] = {SP_EST_MR, SP_EST_MR, SP_EST_MR, 16, 16, 0, 0, 0};
  static const uint16_t bytes[8] = {64, 64, 64, 64, 64, 0, 0, 0};
  sp_amx_configure(rows, bytes);
}

void sp_est_amx_end(void) { _tile_release(); }

void sp_est_tile_bf16_amx(const uint16_t *a, int64_t lda, const uint16_t *strip, int64_t pairs,
                          float *c, int64_t ldc) {
  _tile_zero(0);
  _tile_zero(1);
  for (int64_t x = 0; x < pairs; x += 16) {
    const uint16_t *b = strip + x * 2 * SP_EST_NR;
    _tile_loadd(2, a + 2 * x, lda * 2);
    _tile_loadd(3, b, SP_EST_NR * 4);
    _tile_loadd(4, b + 32, SP_EST_NR * 4);
    _tile_dpbf16ps(0, 2, 3);
    _tile_dpbf16ps(1, 2, 4);
  }
  _tile_stored(0, c, ldc * 4);
  _tile_stored(1, c + 16, ldc * 4);
}

#else /* never called: layouts take tiles only where they are built */

void sp_est_amx_begin(void) {}
void sp_est_amx_end(void) {}
void sp_est_tile_bf16_amx(const uint16_t *a, int64_t lda, const uint16_t *strip, int64_t pairs,
                          float *c, int64_t ldc) {
  (void)a, (void)lda, (void)strip, (void)pairs, (void)c, (void)ldc;
}

#endif
