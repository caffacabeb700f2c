/* Tensor-memory copies (TMA) for the Hopper prefill kernel: one thread
 * moves a whole tile from global to shared memory through a tensor map
 * (copy_maps.h), and the tile's mbarrier counts its bytes in. Meant for
 * code compiled for sm_90a only; callers guard with SPC_SM90_DEVICE. */
#ifndef SPARSA_CUDA_TMA_SM90_CUH
#define SPARSA_CUDA_TMA_SM90_CUH

#include <cuda.h>
#include <stdint.h>

#include "copy_maps.h"

namespace spc {
namespace sm90 {

/* The bytes of the copies still to land on a barrier's current phase:
 * the phase completes once they have, besides its arrivals. Issued before
 * the copies, by the thread that issues them. */
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}

/* Brings a tensor map's 128 bytes into the descriptor cache ahead of its
 * first copy. */
__device__ __forceinline__ void tensor_map_prefetch(const CUtensorMap *map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}

/* One box of the map (SPC_MAP_BOX_COLS columns x SPC_MAP_BOX_ROWS rows,
 * 8 KiB) at columns col.., rows row.. of a head of a batch entry, written
 * to dst with the 128-byte swizzle: exactly tile_offset's layout of one
 * 64-column block of 64 rows, when dst is 1024-byte aligned. */
__device__ __forceinline__ void tma_box(uint32_t dst, const CUtensorMap *map, int col, int row,
                                        int head, int batch, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(col), "r"(row), "r"(head), "r"(batch), "r"(bar)
      : "memory");
}

/* Rows row .. row + ROWS - 1 of a D-column head into a ROWS-row tile of
 * tile_offset<ROWS>'s layout: column block j of the tile starts ROWS x 128
 * bytes after block j - 1, and its rows 64 i .. 64 i + 63 are 64 x 128
 * bytes in, each one box. ROWS x D x 2 bytes land on bar. */
template <int D, int ROWS>
__device__ __forceinline__ void tma_tile(uint32_t dst, const CUtensorMap *map, int row, int head,
                                         int batch, uint32_t bar) {
  static_assert(D % SPC_MAP_BOX_COLS == 0 && ROWS % SPC_MAP_BOX_ROWS == 0, "whole boxes");
#pragma unroll
  for (int j = 0; j < D / SPC_MAP_BOX_COLS; j++)
#pragma unroll
    for (int i = 0; i < ROWS / SPC_MAP_BOX_ROWS; i++)
      tma_box(dst + (uint32_t)(j * ROWS * 128 + i * SPC_MAP_BOX_ROWS * 128), map,
              j * SPC_MAP_BOX_COLS, row + i * SPC_MAP_BOX_ROWS, head, batch, bar);
}

}  // namespace sm90
}  // namespace spc

#endif
