/* The tensor maps the Hopper prefill kernel copies K and V through (its
 * TMA path): plain C, shared by the host code that encodes them per
 * call (tensor_maps.c) and the kernel that reads them as __grid_constant__
 * parameters. cuda.h is read for its types only; nothing links the
 * driver. */
#ifndef SPARSA_CUDA_COPY_MAPS_H
#define SPARSA_CUDA_COPY_MAPS_H

#include <cuda.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every map is four-dimensional, (column, token, head, batch entry) from
 * the fastest, with boxes of 64 columns (128 bytes: the width of the
 * 128-byte swizzle) by 64 tokens of one head. Such a box, swizzled, is one
 * 64-column block of 64 rows of the kernel's shared-memory tiles, so a tile
 * of any size the kernel uses is a whole number of boxes. Varlen problems
 * have one batch entry and the packed tokens. */
enum { SPC_MAP_BOX_COLS = 64, SPC_MAP_BOX_ROWS = 64 };

typedef struct spc_copy_maps {
  CUtensorMap k, v;
} spc_copy_maps;

#ifdef __cplusplus
}
#endif

#endif
