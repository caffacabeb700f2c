/* AMX tiles, for the kernels of the amxbf16 path: whether the build has
 * them, and loading a tile configuration. A thread configures its tiles
 * before its first tile instruction (each work item does, as items of
 * other plans may have left another configuration) and releases them
 * when the item is done (_tile_release), so that its other work does not
 * carry the tile state. Linux grants a process that state on request;
 * cpu/isa.c asks before any context takes this path. */
#ifndef SPARSA_CPU_AMX_TILES_H
#define SPARSA_CPU_AMX_TILES_H

/* GCC names the features __AMX_TILE__ and __AMX_BF16__, clang __AMXTILE__
 * and __AMXBF16__. */
#if (defined(__AMX_TILE__) || defined(__AMXTILE__)) && (defined(__AMX_BF16__) || defined(__AMXBF16__))
#define SP_CPU_HAVE_AMX 1
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* The 64-byte operand of ldtilecfg, palette 1: rows and bytes a row of
 * each of the eight tiles (0 for a tile left unused). */
typedef struct sp_amx_config {
  uint8_t palette, start_row, reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
} sp_amx_config;

static inline void sp_amx_configure(const uint8_t rows[8], const uint16_t bytes_per_row[8]) {
  sp_amx_config c;
  memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int t = 0; t < 8; t++) {
    c.rows[t] = rows[t];
    c.bytes_per_row[t] = bytes_per_row[t];
  }
  _tile_loadconfig(&c);
}
#else
#define SP_CPU_HAVE_AMX 0
#endif

#endif
