/* The two bitmaps of a plan on a vertical-slash list, per rule head: the
 * listed columns (bit j), and the listed diagonal offsets reversed (bit R
 * for offset top_max - R). The prefill kernels make each partial tile's
 * words from them (vslash_words.cuh) as they go, so the plan neither makes
 * per-entry bit jobs on the host nor writes refinement bits on the device
 * (an estimate's mask has ~10^5 partial blocks of 2 KB of bits each). */
#include <cuda_runtime.h>

#include "kernel_args.h"
#include "rule_words.h"

namespace spc_vsb {

/* One thread per map word: the column map's words of every rule head,
 * then the offset map's (by rule_words.h's searches of the sorted
 * lists). */
__global__ void __launch_bounds__(256) maps_kernel(const spc_vslash_bits_args a) {
  const int64_t per_head = a.column_words + a.offset_words;
  const int64_t total = per_head * a.rules.num_heads;
  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total;
       t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t h = t / per_head, k = t % per_head;
    const spc_flat_head head = a.rules.heads[h];
    const sp_flat_node *n = head.nodes;
    uint64_t w;
    if (k < a.column_words)
      w = sp_word_columns(head.data + n->data[0], n->count[0], 64 * k);
    else /* bit c: offset top_max - 64 k' - c */
      w = sp_word_offsets(head.data + n->data[1], n->count[1], a.top_max - 64 * (k - a.column_words));
    a.maps[t] = w;
  }
}

}  // namespace spc_vsb

extern "C" int spc_launch_vslash_maps(const spc_vslash_bits_args *a, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t map_words = (a->column_words + a->offset_words) * a->rules.num_heads;
  if (map_words <= 0) return 0;
  int64_t blocks = (map_words + 255) / 256;
  if (blocks > 4096) blocks = 4096;
  spc_vsb::maps_kernel<<<(unsigned)blocks, 256, 0, s>>>(*a);
  return (int)cudaGetLastError();
}
