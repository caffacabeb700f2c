/* The block lists of a vertical-slash estimate's mask, made on the device
 * from the selection's kept flags, so that no pattern is classified on the
 * host and nothing is copied back.
 *
 * With the columns C and offsets O of a head as prefix counts, every
 * question about a (query block, key block) tile is a difference of two
 * counts: its query positions [P0, P1] and keys [k0, k1) see a listed
 * column below P1 + 1, or a listed offset in [P0 - (k1 - 1), P1 - k0]
 * (listed: some pair is visible; the core lists exactly these). A listed
 * tile below the causal line is full where every one of its columns is
 * listed, or where its distances [P0 - (k1 - 1), P1 - k0] are all listed
 * offsets (a band): the two ways the core's classification finds full
 * blocks. A tile that only columns and diagonals fill together is full
 * to the core only where it checks the tile pair by pair: never in a
 * query block of full height (there the columns' and the diagonals'
 * blocks are both partial, and their union stays partial), and in a
 * shorter one where one of its diagonal clusters asks for that check.
 * Partial in the first case; in the second the tile is flagged, and the
 * host then makes the mask as before. */
#include <cuda_runtime.h>
#include <stdint.h>

#include "cta_scan.cuh"
#include "estimate_args.h"

namespace spc_vsm {

enum { kEmpty = 0, kPartial = 1, kFull = 2 };

/* One CTA per row of flags: prefix[0] = 0, prefix[c + 1] = kept in [0, c]. */
__global__ void __launch_bounds__(1024) prefix_kernel(const spc_vslash_mask_args a) {
  const int64_t n = a.kv_len;
  cta_slice_scan(a.keep + (int64_t)blockIdx.x * n, n, a.prefix + (int64_t)blockIdx.x * (n + 1));
}

/* Tile (qb, kb) of the head whose column and offset counts are pc and po. */
__device__ int tile_class(const spc_vslash_mask_args &a, const int32_t *pc, const int32_t *po,
                          int64_t qb, int64_t kb, bool *undecided) {
  const int64_t q0 = qb * a.block_q, q1 = min(q0 + a.block_q, a.q_len);
  const int64_t P0 = q0 + a.off, P1 = q1 - 1 + a.off;
  const int64_t k0 = kb * a.block_kv, k1 = min(k0 + a.block_kv, a.kv_len);
  if (P1 < k0) return kEmpty; /* above the causal line, every pair */
  bool any = pc[min(k1, P1 + 1)] - pc[k0] > 0;
  const int64_t dlo = max((int64_t)0, P0 - (k1 - 1)), dhi = P1 - k0; /* P1 < kv_len */
  if (!any && dlo <= dhi) any = po[dhi + 1] - po[dlo] > 0;
  if (!any) return kEmpty;
  if (k1 - 1 > P0) return kPartial; /* some pair above the causal line */
  if (pc[k1] - pc[k0] == k1 - k0) return kFull;
  if (po[dhi + 1] - po[dlo] == dhi - dlo + 1) return kFull; /* dlo = P0 - (k1 - 1) here */
  /* Full only if every unlisted column's distances are listed offsets. */
  const int32_t rows = (int32_t)(P1 - P0 + 1);
  if (rows == a.block_q) return kPartial; /* full height: the core's union stays partial */
  for (int64_t j = k0; j < k1; j++)
    if (pc[j + 1] == pc[j] && po[P1 - j + 1] - po[P0 - j] != rows) return kPartial;
  *undecided = true;
  return kPartial;
}

/* Key blocks a row can list: those starting at or before its last position. */
__device__ __forceinline__ int64_t row_blocks(const spc_vslash_mask_args &a, int64_t qb) {
  const int64_t P1 = min((qb + 1) * a.block_q, a.q_len) - 1 + a.off;
  if (P1 < 0) return 0;
  return min(P1 / a.block_kv + 1, a.num_kv_blocks);
}

/* The row (head, query block) a warp of the fill kernels takes:
 * its query block, its head's column and offset counts, and the key blocks
 * it can list; false past the last row (for the whole warp). */
struct MaskRow {
  int64_t row, qb, nb;
  const int32_t *pc, *po;
};

__device__ __forceinline__ bool warp_row(const spc_vslash_mask_args &a, MaskRow *r) {
  r->row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (r->row >= (int64_t)a.num_heads * a.num_q_blocks) return false;
  const int64_t h = r->row / a.num_q_blocks;
  r->qb = r->row % a.num_q_blocks;
  r->pc = a.prefix + 2 * h * (a.kv_len + 1);
  r->po = r->pc + (a.kv_len + 1);
  r->nb = row_blocks(a, r->qb);
  return true;
}

/* One CTA per row (head, query block), a thread per key block: its
 * listed blocks (and partial ones), and where there is room each block's
 * class for the fill (the classification reads prefix counts all over the
 * head's, from L2: classifying once halves it). All of a row's blocks'
 * loads in flight at once, not 32 a round of a warp's walk: 11.7 -> 9.9
 * us for 4,096 rows of 128 blocks on an H100. */
__global__ void __launch_bounds__(1024) count_kernel(const spc_vslash_mask_args a) {
  __shared__ int32_t warp_counts[2][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t row = blockIdx.x, h = row / a.num_q_blocks, qb = row % a.num_q_blocks;
  const int32_t *pc = a.prefix + 2 * h * (a.kv_len + 1), *po = pc + (a.kv_len + 1);
  const int64_t nb = row_blocks(a, qb);
  bool undecided = false;
  int32_t count = 0, partial = 0;
  for (int64_t b0 = 0; b0 < nb; b0 += blockDim.x) { /* the same trips for every thread */
    const int64_t kb = b0 + threadIdx.x;
    const int cls = kb < nb ? tile_class(a, pc, po, qb, kb, &undecided) : kEmpty;
    if (a.classes != nullptr && kb < nb) a.classes[row * a.num_kv_blocks + kb] = (uint8_t)cls;
    count += __popc(__ballot_sync(0xffffffffu, cls != kEmpty));
    partial += __popc(__ballot_sync(0xffffffffu, cls == kPartial));
  }
  if (lane == 0) {
    warp_counts[0][warp] = count;
    warp_counts[1][warp] = partial;
  }
  if (__syncthreads_or(undecided) && threadIdx.x == 0) atomicOr(a.undecided, 1);
  if (threadIdx.x == 0) {
    int32_t total = 0, total_partial = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) {
      total += warp_counts[0][w];
      total_partial += warp_counts[1][w];
    }
    a.counts[row] = total;
    if (a.bits_index != nullptr) a.partial_counts[row] = total_partial;
  }
}

/* One CTA: exclusive scans of the row counts into row_ptr, and of the
 * partial counts into partial_ptr. */
__global__ void __launch_bounds__(1024) scan_kernel(const spc_vslash_mask_args a) {
  const int64_t rows = (int64_t)a.num_heads * a.num_q_blocks;
  cta_row_pointers(a.counts, rows, a.row_ptr);
  if (a.bits_index == nullptr) return;
  __syncthreads(); /* the scans share their warp totals */
  cta_row_pointers(a.partial_counts, rows, a.partial_ptr);
}

/* A warp's row from its first entry `at` (and first partial index
 * partial_at): its listed blocks, ascending, their classes, and the
 * partial ones' indices. */
__device__ __forceinline__ void fill_row(const spc_vslash_mask_args &a, const MaskRow &r, int64_t at,
                                         int64_t partial_at, int lane) {
  bool undecided = false;
  const unsigned below = (1u << lane) - 1;
  for (int64_t b0 = 0; b0 < r.nb; b0 += 32) {
    const int64_t kb = b0 + lane;
    const int cls = kb >= r.nb              ? kEmpty
                    : a.classes != nullptr ? a.classes[r.row * a.num_kv_blocks + kb]
                                           : tile_class(a, r.pc, r.po, r.qb, kb, &undecided);
    const unsigned ballot = __ballot_sync(0xffffffffu, cls != kEmpty);
    const unsigned partial = __ballot_sync(0xffffffffu, cls == kPartial);
    if (cls != kEmpty) {
      const int64_t e = at + __popc(ballot & below);
      a.col[e] = (int32_t)kb;
      a.full[e] = cls == kFull;
      if (a.bits_index != nullptr)
        a.bits_index[e] = cls == kPartial ? (int32_t)(partial_at + __popc(partial & below)) : -1;
    }
    at += __popc(ballot);
    partial_at += __popc(partial);
  }
}

/* One warp per row, at the offsets the scan gave it. */
__global__ void __launch_bounds__(256) fill_kernel(const spc_vslash_mask_args a) {
  MaskRow r;
  if (!warp_row(a, &r)) return;
  fill_row(a, r, a.row_ptr[r.row], a.bits_index != nullptr ? a.partial_ptr[r.row] : 0,
           threadIdx.x & 31);
}

/* The fill without a scan before it, for at most kFillPrefixRows rows:
 * each CTA (eight rows) first sums the counts, and the partial counts, of
 * every row before its own from L2, then writes its rows' offsets (the
 * last row also the totals) and fills them. One launch instead of a
 * single-CTA scan (13.7 us for 4,096 rows on an H100) and the fill. */
constexpr int64_t kFillPrefixRows = 8192;

__global__ void __launch_bounds__(256) fill_prefix_kernel(const spc_vslash_mask_args a) {
  __shared__ int64_t warp_sums[2][8];
  __shared__ int32_t row_counts[2][8];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t rows = (int64_t)a.num_heads * a.num_q_blocks;
  const int64_t row0 = (int64_t)blockIdx.x * 8, row = row0 + warp;
  const bool partials = a.bits_index != nullptr;
  /* row0 is a multiple of 8, the counts are 64-byte aligned. */
  int64_t before = thread_sum_before(a.counts, row0);
  int64_t before_partial = partials ? thread_sum_before(a.partial_counts, row0) : 0;
  for (int o = 16; o > 0; o >>= 1) {
    before += __shfl_xor_sync(0xffffffffu, before, o);
    before_partial += __shfl_xor_sync(0xffffffffu, before_partial, o);
  }
  if (lane == 0) {
    warp_sums[0][warp] = before;
    warp_sums[1][warp] = before_partial;
    row_counts[0][warp] = row < rows ? a.counts[row] : 0;
    row_counts[1][warp] = row < rows && partials ? a.partial_counts[row] : 0;
  }
  __syncthreads();
  int64_t at = 0, partial_at = 0;
  for (int w = 0; w < 8; w++) {
    at += warp_sums[0][w];
    partial_at += warp_sums[1][w];
  }
  for (int w = 0; w < warp; w++) {
    at += row_counts[0][w];
    partial_at += row_counts[1][w];
  }
  MaskRow r;
  if (!warp_row(a, &r)) return;
  if (lane == 0) {
    a.row_ptr[row] = at;
    if (partials) a.partial_ptr[row] = partial_at;
    if (row == rows - 1) {
      a.row_ptr[rows] = at + row_counts[0][warp];
      if (partials) a.partial_ptr[rows] = partial_at + row_counts[1][warp];
    }
  }
  fill_row(a, r, at, partial_at, lane);
}

/* One warp per map word (vslash_bits.cu's layout): the 64 kept flags of
 * a column word, or of the offsets top_max - R for the word's bits R, in
 * two ballots of 32 consecutive flags (a thread reading a word's 64 flags
 * alone took 8 us for 32 heads of 16,384 keys on an H100); every word
 * written, so the maps need no clearing. */
__global__ void __launch_bounds__(256) maps_kernel(const spc_vslash_mask_args a) {
  const int64_t per_head = a.column_words + a.offset_words;
  const int64_t word = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (word >= per_head * a.num_heads) return; /* the whole warp */
  const int lane = threadIdx.x & 31;
  const int64_t h = word / per_head, w = word % per_head;
  uint32_t half[2];
  if (w < a.column_words) {
    const uint8_t *keep = a.keep + 2 * h * a.kv_len;
#pragma unroll
    for (int k = 0; k < 2; k++) {
      const int64_t j = 64 * w + 32 * k + lane;
      half[k] = __ballot_sync(0xffffffffu, j < a.kv_len && keep[j] != 0);
    }
  } else {
    const uint8_t *keep = a.keep + (2 * h + 1) * a.kv_len;
#pragma unroll
    for (int k = 0; k < 2; k++) {
      const int64_t o = a.top_max - (64 * (w - a.column_words) + 32 * k + lane);
      half[k] = __ballot_sync(0xffffffffu, o >= 0 && o < a.kv_len && keep[o] != 0);
    }
  }
  if (lane == 0) a.maps[word] = (uint64_t)half[0] | (uint64_t)half[1] << 32;
}

}  // namespace spc_vsm

extern "C" int spc_launch_vslash_mask(const spc_vslash_mask_args *a, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t rows = (int64_t)a->num_heads * a->num_q_blocks;
  if (rows == 0 || a->kv_len == 0) return 0;
  if (!a->prefix_ready) spc_vsm::prefix_kernel<<<(unsigned)(2 * a->num_heads), 1024, 0, s>>>(*a);
  const unsigned warps = (unsigned)((rows + 7) / 8);
  /* A thread per key block a row lists at most (whole warps, up to 1024). */
  const int64_t lanes = (a->num_kv_blocks + 31) / 32 * 32;
  if (rows > INT32_MAX) return (int)cudaErrorInvalidConfiguration;
  spc_vsm::count_kernel<<<(unsigned)rows, (unsigned)(lanes < 1024 ? lanes : 1024), 0, s>>>(*a);
  if (rows <= spc_vsm::kFillPrefixRows) {
    spc_vsm::fill_prefix_kernel<<<warps, 256, 0, s>>>(*a);
  } else {
    spc_vsm::scan_kernel<<<1, 1024, 0, s>>>(*a);
    spc_vsm::fill_kernel<<<warps, 256, 0, s>>>(*a);
  }
  const int64_t map_words = (a->column_words + a->offset_words) * a->num_heads;
  if (a->maps != NULL && map_words > 0)
    spc_vsm::maps_kernel<<<(unsigned)((map_words + 7) / 8), 256, 0, s>>>(*a);
  return (int)cudaGetLastError();
}
