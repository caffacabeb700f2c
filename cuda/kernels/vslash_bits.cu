/* Refinement bits of a plan on a vertical-slash mask, written straight
 * from its block list: no per-entry jobs made, staged and uploaded by the
 * host (an estimate's mask has ~10^5 partial blocks), and no binary search
 * per word.
 *
 * A head's rule is one vertical-slash leaf: key j is visible from position
 * pos (query i + off) when d = pos - j >= 0 and j is a listed column or d
 * a listed offset. First, per rule head, two bitmaps from the lists (a
 * bit set per listed entry): the columns, bit j; and the offsets
 * reversed, bit R for offset top_max - R (or the same maps as the
 * estimate that made the list left them: vslash_mask.cu). Then a word of
 * keys j0 .. j0 + 63 of a row is the column map's word j0 / 64
 * (key blocks are multiples of 64 keys, so j0 is word-aligned) OR the
 * offset map's 64 bits from R0 = top_max - (pos - j0) on (bit c: offset
 * pos - j0 - c), AND causal and the keys' end: rule_words.h's word of the
 * leaf, bit for bit. */
#include <cuda_runtime.h>

#include "kernel_args.h"
#include "rule_words.h"

namespace spc_vsb {

/* One thread per listed column or offset of a rule head (blockIdx.y),
 * setting its bit in the zeroed maps: the column map's bit j for column
 * j, the offset map's bit R = top_max - o for offset o <= top_max. (A
 * thread per map word, each searching its lists, left most SMs idle:
 * 30 us for 16k words.) */
__global__ void __launch_bounds__(256) maps_kernel(const spc_vslash_bits_args a) {
  const int64_t h = blockIdx.y;
  const spc_flat_head head = a.rules.heads[h];
  const sp_flat_node *n = head.nodes;
  const int64_t *columns = head.data + n->data[0], *offsets = head.data + n->data[1];
  const int64_t nc = n->count[0], total = nc + n->count[1];
  uint64_t *map = a.maps + h * (a.column_words + a.offset_words);
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
       e += (int64_t)gridDim.x * blockDim.x) {
    int64_t bit;
    if (e < nc) {
      bit = columns[e];
      if (bit >= a.column_words * 64) continue; /* past the keys (a longer pattern's) */
    } else {
      const int64_t o = offsets[e - nc];
      if (o > a.top_max) continue; /* seen by no query */
      bit = a.column_words * 64 + (a.top_max - o);
    }
    atomicOr(reinterpret_cast<unsigned long long *>(map + (bit >> 6)),
             (unsigned long long)1 << (bit & 63));
  }
}

/* Word w of query i's row of the tile whose keys start at kv0: the
 * column map's word OR the offset map's 64 bits from R0, clipped to the
 * causal line and the keys' end (0 past the queries or the keys). */
__device__ __forceinline__ uint64_t tile_word(const spc_vslash_bits_args &a,
                                              const uint64_t *columns, const uint64_t *offsets,
                                              int64_t i, int64_t w, int64_t kv0) {
  const int64_t j0 = kv0 + 64 * w, top = i + a.off - j0;
  if (i >= a.q_len || j0 >= a.kv_len || top < 0) return 0;
  /* top <= top_max: R0 >= 0, and its words lie within the map. */
  const int64_t R0 = a.top_max - top;
  const int64_t k0 = R0 >> 6;
  const int sh = (int)(R0 & 63);
  uint64_t window = offsets[k0] >> sh;
  if (sh != 0) window |= offsets[k0 + 1] << (64 - sh);
  const int64_t left = a.kv_len - j0;
  return (columns[j0 >> 6] | window) & sp_word_through(top) &
         sp_word_through((left < 64 ? left : 64) - 1);
}

/* One CTA per row of the list (head, query block): every partial entry's
 * rows x words words, in the order of rule_bits.cu's jobs. The row's key
 * blocks and bit indices go to shared memory first, so that no entry's
 * words wait on a global read of its own. Where an entry's words divide
 * the CTA (tiles of 128 x 128 keys: one word a thread; 64 x 64: four
 * entries at once), each thread keeps its row and word for every entry of
 * the row, so that an entry costs it one word's arithmetic: the kernel
 * was bound by its instructions (ncu on an H100: 67% of the SM's issue,
 * 30% of DRAM at 162 MB written, 167 us), more of them the per-word index
 * arithmetic than the word itself (now 142 us, 74% and 35%). Tiles left
 * of the diagonal (most partial entries) then skip tile_word's clipping
 * and per-entry window arithmetic: the integer pipe had stayed the limit
 * (74% of its cycles, DRAM 48%, 97 us for 160 MB). */
enum { kThreads = 256 };

/* Six CTAs an SM: 40 registers, no spills (47 unbounded, five CTAs). */
__global__ void __launch_bounds__(kThreads, 6) bits_kernel(const spc_vslash_bits_args a) {
  __shared__ int32_t entry_index[kThreads], entry_col[kThreads];
  const int64_t row = blockIdx.x;
  const int64_t h = row / a.num_q_blocks, q0 = row % a.num_q_blocks * a.rows;
  const int64_t rule = a.map_heads == 1 ? 0 : h;
  const uint64_t *columns = a.maps + rule * (a.column_words + a.offset_words);
  const uint64_t *offsets = columns + a.column_words;
  const int32_t per_entry = a.rows * a.words;
  /* words is block_kv / 64 with block_kv a power of two: a shift and a
   * mask instead of a division and a remainder a word. */
  const int words_log2 = __ffs(a.words) - 1;
  /* slots: entries a pass where the entry's words divide the CTA (else
   * 0, and each entry's words go round the CTA). */
  const int slots = per_entry <= kThreads && kThreads % per_entry == 0 ? kThreads / per_entry : 0;
  const int slot = slots ? (int)threadIdx.x / per_entry : 0;
  const int32_t mine = slots ? (int32_t)threadIdx.x % per_entry : 0;
  const int64_t my_i = q0 + (mine >> words_log2), my_w = mine & (a.words - 1);
  /* This thread's offset window at key block 0, as tile_word takes it:
   * R0 = top_max - (my_i + off - 64 my_w), to which an entry adds its kv0
   * (a multiple of 64), split into its word (floor) and shift. */
  const int64_t my_r0 = a.top_max - (my_i + a.off - 64 * my_w);
  const int64_t my_word0 = my_r0 >> 6;
  const int my_shift = (int)(my_r0 & 63);
  const bool my_row = my_i < a.q_len;
  const int64_t begin = a.row_ptr[row], end = a.row_ptr[row + 1];
  for (int64_t e0 = begin; e0 < end; e0 += kThreads) {
    const int n = end - e0 < kThreads ? (int)(end - e0) : kThreads;
    __syncthreads(); /* the previous entries are read */
    if ((int)threadIdx.x < n) {
      entry_index[threadIdx.x] = a.bits_index[e0 + threadIdx.x];
      entry_col[threadIdx.x] = a.col[e0 + threadIdx.x];
    }
    __syncthreads();
    if (slots) {
      for (int k = slot; k < n; k += slots) {
        const int32_t index = entry_index[k];
        if (index < 0) continue; /* full: no bits */
        const int64_t kv0 = (int64_t)entry_col[k] * a.block_kv;
        /* A tile inside the keys whose first row sees its last key (most
         * partial tiles of such a mask: left of the diagonal) needs no
         * clipping, and its offset window starts at this thread's R0 plus
         * kv0, a multiple of 64: the same shift for every such entry. */
        const bool inside = my_row && kv0 + a.block_kv <= a.kv_len &&
                            kv0 + a.block_kv - 1 <= q0 + a.off;
        uint64_t word;
        if (inside) {
          const int64_t k0 = my_word0 + (kv0 >> 6);
          uint64_t window = offsets[k0] >> my_shift;
          if (my_shift != 0) window |= offsets[k0 + 1] << (64 - my_shift);
          word = columns[(kv0 >> 6) + my_w] | window;
        } else {
          word = tile_word(a, columns, offsets, my_i, my_w, kv0);
        }
        a.bits[(int64_t)index * per_entry + mine] = word;
      }
      continue;
    }
    for (int k = 0; k < n; k++) {
      const int32_t index = entry_index[k];
      if (index < 0) continue;
      const int64_t kv0 = (int64_t)entry_col[k] * a.block_kv;
      uint64_t *out = a.bits + (int64_t)index * per_entry;
      for (int32_t idx = threadIdx.x; idx < per_entry; idx += kThreads)
        out[idx] = tile_word(a, columns, offsets, q0 + (idx >> words_log2), idx & (a.words - 1), kv0);
    }
  }
}

}  // namespace spc_vsb

extern "C" int spc_launch_vslash_bits(const spc_vslash_bits_args *a, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (a->num_rows == 0) return 0;
  spc_vslash_bits_args k = *a;
  if (k.rules.num_heads > 0) { /* else the maps are given */
    k.map_heads = k.rules.num_heads;
    const int64_t map_words = (k.column_words + k.offset_words) * k.map_heads;
    cudaError_t err = cudaMemsetAsync(k.maps, 0, (size_t)map_words * sizeof(uint64_t), s);
    if (err != cudaSuccess) return (int)err;
    /* Eight CTAs a rule head: a few thousand entries each at most. */
    if (map_words > 0) spc_vsb::maps_kernel<<<dim3(8, (unsigned)k.map_heads), 256, 0, s>>>(k);
  }
  spc_vsb::bits_kernel<<<(unsigned)k.num_rows, spc_vsb::kThreads, 0, s>>>(k);
  return (int)cudaGetLastError();
}
