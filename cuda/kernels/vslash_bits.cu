/* Refinement bits of a plan on a vertical-slash mask, written straight
 * from its block list: no per-entry jobs made, staged and uploaded by the
 * host (an estimate's mask has ~10^5 partial blocks), and no binary search
 * per word.
 *
 * A head's rule is one vertical-slash leaf: key j is visible from position
 * pos (query i + off) when d = pos - j >= 0 and j is a listed column or d
 * a listed offset. First, per rule head, two bitmaps from the sorted
 * lists (one word per thread, by rule_words.h's searches): the columns,
 * bit j; and the offsets reversed, bit R for offset top_max - R. Then a
 * word of keys j0 .. j0 + 63 of a row is the column map's word j0 / 64
 * (key blocks are multiples of 64 keys, so j0 is word-aligned) OR the
 * offset map's 64 bits from R0 = top_max - (pos - j0) on (bit c: offset
 * pos - j0 - c), AND causal and the keys' end: rule_words.h's word of the
 * leaf, bit for bit. */
#include <cuda_runtime.h>

#include "kernel_args.h"
#include "rule_words.h"

namespace spc_vsb {

/* One thread per map word: the column map's words of every rule head,
 * then the offset map's. */
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

/* One CTA per row of the list (head, query block): every partial entry's
 * rows x words words, in the order of rule_bits.cu's jobs. The row's key
 * blocks and bit indices go to shared memory first, so that no entry's
 * words wait on a global read of its own. */
enum { kThreads = 256 };

__global__ void __launch_bounds__(kThreads) bits_kernel(const spc_vslash_bits_args a) {
  __shared__ int32_t entry_index[kThreads], entry_col[kThreads];
  const int64_t row = blockIdx.x;
  const int64_t h = row / a.num_q_blocks, q0 = row % a.num_q_blocks * a.rows;
  const int64_t rule = a.rules.num_heads == 1 ? 0 : h;
  const uint64_t *columns = a.maps + rule * (a.column_words + a.offset_words);
  const uint64_t *offsets = columns + a.column_words;
  const int32_t per_entry = a.rows * a.words;
  /* words is block_kv / 64 with block_kv a power of two: a shift and a
   * mask instead of a division and a remainder a word. */
  const int words_log2 = __ffs(a.words) - 1;
  const int64_t begin = a.row_ptr[row], end = a.row_ptr[row + 1];
  for (int64_t e0 = begin; e0 < end; e0 += kThreads) {
    const int n = end - e0 < kThreads ? (int)(end - e0) : kThreads;
    __syncthreads(); /* the previous entries are read */
    if ((int)threadIdx.x < n) {
      entry_index[threadIdx.x] = a.bits_index[e0 + threadIdx.x];
      entry_col[threadIdx.x] = a.col[e0 + threadIdx.x];
    }
    __syncthreads();
    for (int k = 0; k < n; k++) {
      const int32_t index = entry_index[k];
      if (index < 0) continue; /* full: no bits */
      const int64_t kv0 = (int64_t)entry_col[k] * a.block_kv;
      uint64_t *out = a.bits + (int64_t)index * per_entry;
      for (int32_t idx = threadIdx.x; idx < per_entry; idx += kThreads) {
        const int32_t r = idx >> words_log2, w = idx & (a.words - 1);
        const int64_t i = q0 + r, j0 = kv0 + 64 * (int64_t)w;
        const int64_t top = i + a.off - j0;
        uint64_t word = 0;
        if (i < a.q_len && j0 < a.kv_len && top >= 0) {
          /* top <= top_max: R0 >= 0, and its words lie within the map. */
          const int64_t R0 = a.top_max - top;
          const int64_t k0 = R0 >> 6;
          const int sh = (int)(R0 & 63);
          uint64_t window = offsets[k0] >> sh;
          if (sh != 0) window |= offsets[k0 + 1] << (64 - sh);
          const int64_t left = a.kv_len - j0;
          word = (columns[j0 >> 6] | window) & sp_word_through(top) &
                 sp_word_through((left < 64 ? left : 64) - 1);
        }
        out[idx] = word;
      }
    }
  }
}

}  // namespace spc_vsb

extern "C" int spc_launch_vslash_bits(const spc_vslash_bits_args *a, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (a->num_rows == 0) return 0;
  const int64_t map_words = (a->column_words + a->offset_words) * a->rules.num_heads;
  if (map_words > 0) {
    int64_t blocks = (map_words + 255) / 256;
    if (blocks > 4096) blocks = 4096;
    spc_vsb::maps_kernel<<<(unsigned)blocks, 256, 0, s>>>(*a);
  }
  spc_vsb::bits_kernel<<<(unsigned)a->num_rows, spc_vsb::kThreads, 0, s>>>(*a);
  return (int)cudaGetLastError();
}
