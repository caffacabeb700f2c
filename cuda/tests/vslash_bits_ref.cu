/* The words of a plan on a vertical-slash list materialized as refinement
 * bits, for the white-box test (vslash_bits_test.c) to hold against the
 * rule evaluator's per-entry jobs word for word: the maps from the
 * library's kernel (vslash_maps.cu), each word from vslash_words.cuh, the
 * function the prefill kernels call on partial tiles. */
#include <cuda_runtime.h>

#include "kernel_args.h"
#include "vslash_words.cuh"

namespace {

/* One CTA per row of the list (head, query block): every partial entry's
 * rows x words words, in the order of rule_bits.cu's jobs. */
constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) bits_kernel(const spc_vslash_bits_args a) {
  const int64_t row = blockIdx.x;
  const int64_t h = row / a.num_q_blocks, q0 = row % a.num_q_blocks * a.rows;
  const int64_t rule = a.rules.num_heads == 1 ? 0 : h;
  const uint64_t *columns = a.maps + rule * (a.column_words + a.offset_words);
  const uint64_t *offsets = columns + a.column_words;
  const int32_t per_entry = a.rows * a.words;
  for (int64_t e = a.row_ptr[row]; e < a.row_ptr[row + 1]; e++) {
    const int32_t index = a.bits_index[e];
    if (index < 0) continue; /* full: no bits */
    const int64_t kv0 = (int64_t)a.col[e] * a.block_kv;
    uint64_t *out = a.bits + (int64_t)index * per_entry;
    for (int32_t idx = threadIdx.x; idx < per_entry; idx += kThreads) {
      const int32_t r = idx / a.words, w = idx % a.words;
      out[idx] = spc::vslash_word(columns, offsets, a.top_max, a.q_len, a.kv_len, a.off, q0 + r,
                                  kv0 + 64 * (int64_t)w);
    }
  }
}

}  // namespace

extern "C" int spc_launch_vslash_bits(const spc_vslash_bits_args *a, void *stream) {
  int err = spc_launch_vslash_maps(a, stream);
  if (err != 0 || a->num_rows == 0) return err;
  bits_kernel<<<(unsigned)a->num_rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(*a);
  return (int)cudaGetLastError();
}
