/* Block lists built on the device from flat pattern rules, with no host
 * round trip: classify every (head, query block, key block) tile by
 * interval arithmetic on its distances d = p - j (the same rules as the
 * core's host classifier), count each row's listed blocks, then turn the
 * counts into row offsets and classify again to compact each row in order.
 *
 * A row only visits its candidate key blocks: every rule here is a band of
 * distances (plus, for sink + window, a prefix of keys), so the blocks
 * outside one or two intervals computed from the row's positions are
 * empty without classifying them. The work is then about the blocks
 * listed, not the whole key axis (at 64-token blocks a sink + window row
 * visits ~40 of 512). Two kernels: count (with a sum per CTA), then fill
 * (each CTA adds up the sums of the CTAs before it, scans its rows' counts
 * and compacts them). */
#include <cuda_runtime.h>

#include "cta_scan.cuh"
#include "kernel_args.h"

namespace spc {

enum { kEmpty = 0, kPartial = 1, kFull = 2 };

__device__ __forceinline__ int band_class(int64_t dmin, int64_t dmax, int64_t lo, int64_t hi) {
  if (dmax < lo || dmin > hi) return kEmpty;
  if (dmin >= lo && dmax <= hi) return kFull;
  return kPartial;
}

__device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) { /* b > 0 */
  int64_t q = a / b;
  return (a % b != 0 && a > 0) ? q + 1 : q;
}

__device__ int classify(const sp_flat_node &n, const spc_mask_build_args &a, int64_t qb, int64_t kb) {
  const int64_t q0 = qb * a.block_q, q1 = min(q0 + a.block_q, a.q_len);
  const int64_t k0 = kb * a.block_kv, k1 = min(k0 + a.block_kv, a.kv_len);
  const int64_t P1 = q1 - 1 + a.off;
  const int64_t dmin = q0 + a.off - (k1 - 1), dmax = P1 - k0;
  switch (n.kind) {
    case SPARSA_PATTERN_DENSE: return kFull;
    case SPARSA_PATTERN_NONE: return kEmpty;
    case SPARSA_PATTERN_CAUSAL: return band_class(dmin, dmax, 0, (int64_t)1 << 40);
    case SPARSA_PATTERN_WINDOW:
    case SPARSA_PATTERN_DILATED: {
      const int64_t lo = -n.param[1], hi = n.param[0], g = n.param[2];
      if (g == 1) return band_class(dmin, dmax, lo, hi);
      int64_t x = max(dmin, lo), y = min(dmax, hi);
      if (x > y || ceil_div(x, g) * g > y) return kEmpty;
      if (dmin >= lo && dmax <= hi && dmin == dmax && dmin % g == 0) return kFull;
      return kPartial;
    }
    case SPARSA_PATTERN_SINK_WINDOW: {
      const int64_t sink = n.param[0], window = n.param[1];
      const bool sink_part = k0 < sink && dmax >= 0;
      const bool window_part = max(dmin, (int64_t)0) <= min(dmax, window - 1);
      if (!sink_part && !window_part) return kEmpty;
      if (dmin >= 0 && !(k1 > sink && P1 - max(k0, sink) >= window)) return kFull;
      return kPartial;
    }
  }
  return kPartial; /* not reached: the host checks the kinds first */
}

/* A row's candidate key blocks: [0, e0) then [b1, e1), with e0 <= b1, a
 * superset of its non-empty blocks. The bounds are
 * conservative, so classify() still decides every block in them. */
struct Candidates {
  int64_t e0, b1, e1;
};

__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) { /* b > 0 */
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Blocks that can hold a distance in [lo, hi]: k0 <= P1 - lo and
 * k1 - 1 >= P0 - hi, where k1 - 1 <= k0 + block_kv - 1. */
__device__ __forceinline__ void band_blocks(const spc_mask_build_args &a, int64_t P0, int64_t P1,
                                            int64_t lo, int64_t hi, int64_t *b, int64_t *e) {
  int64_t first = floor_div(P0 - hi, a.block_kv);
  int64_t last = floor_div(P1 - lo, a.block_kv);
  *b = max(first, (int64_t)0);
  *e = min(last + 1, a.num_kv_blocks);
  if (*e < *b) *e = *b;
}

__device__ Candidates candidates(const sp_flat_node &n, const spc_mask_build_args &a, int64_t qb) {
  const int64_t q0 = qb * a.block_q, q1 = min(q0 + a.block_q, a.q_len);
  const int64_t P0 = q0 + a.off, P1 = q1 - 1 + a.off;
  Candidates c = {0, 0, a.num_kv_blocks};
  switch (n.kind) {
    case SPARSA_PATTERN_DENSE: break;
    case SPARSA_PATTERN_NONE: c.e1 = 0; break;
    case SPARSA_PATTERN_CAUSAL: band_blocks(a, P0, P1, 0, (int64_t)1 << 40, &c.b1, &c.e1); break;
    case SPARSA_PATTERN_WINDOW:
    case SPARSA_PATTERN_DILATED: band_blocks(a, P0, P1, -n.param[1], n.param[0], &c.b1, &c.e1); break;
    case SPARSA_PATTERN_SINK_WINDOW: {
      /* Sink keys j < sink with d >= 0; window distances [0, window - 1]. */
      const int64_t sink = n.param[0];
      int64_t e0 = min(floor_div(sink + a.block_kv - 1, a.block_kv), floor_div(P1, a.block_kv) + 1);
      c.e0 = max((int64_t)0, min(e0, a.num_kv_blocks));
      band_blocks(a, P0, P1, 0, n.param[1] - 1, &c.b1, &c.e1);
      c.b1 = max(c.b1, c.e0);
      if (c.e1 < c.b1) c.e1 = c.b1;
      break;
    }
  }
  return c;
}

/* One warp per (head, query block) row; a CTA takes a run of rows. */
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

__device__ __forceinline__ const sp_flat_node &row_rule(const spc_mask_build_args &a, int64_t row) {
  const int head = (int)(row / a.num_q_blocks);
  return a.rules.heads[a.rules.num_heads == 1 ? 0 : head].nodes[0];
}

__device__ int count_row(const spc_mask_build_args &a, int64_t row, int lane) {
  const int64_t qb = row % a.num_q_blocks;
  const sp_flat_node n = row_rule(a, row);
  const Candidates c = candidates(n, a, qb);
  int count = 0;
  for (int64_t kb = lane; kb < c.e0; kb += 32) count += classify(n, a, qb, kb) != kEmpty;
  for (int64_t kb = c.b1 + lane; kb < c.e1; kb += 32) count += classify(n, a, qb, kb) != kEmpty;
  for (int o = 16; o > 0; o >>= 1) count += __shfl_xor_sync(0xffffffffu, count, o);
  return count;
}

/* Compact blocks [b, e) of a row from offset at on; returns the new offset. */
__device__ int64_t fill_range(const spc_mask_build_args &a, const sp_flat_node &n, int64_t qb,
                              int64_t b, int64_t e, int64_t at, int lane) {
  for (int64_t k0 = b; k0 < e; k0 += 32) {
    const int64_t kb = k0 + lane;
    const int c = kb < e ? classify(n, a, qb, kb) : kEmpty;
    const unsigned ballot = __ballot_sync(0xffffffffu, c != kEmpty);
    if (c != kEmpty) {
      const int64_t slot = at + __popc(ballot & ((1u << lane) - 1));
      a.col[slot] = (int32_t)kb;
      a.full[slot] = c == kFull;
    }
    at += __popc(ballot);
  }
  return at;
}

__global__ void __launch_bounds__(kThreads) count_kernel(const spc_mask_build_args a, int64_t rows_per_cta) {
  __shared__ int64_t warp_sum[kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t rows = (int64_t)a.num_heads * a.num_q_blocks;
  const int64_t r0 = (int64_t)blockIdx.x * rows_per_cta, r1 = min(r0 + rows_per_cta, rows);
  int64_t sum = 0;
  for (int64_t row = r0 + warp; row < r1; row += kWarps) {
    const int c = count_row(a, row, lane);
    if (lane == 0) a.counts[row] = c;
    sum += c;
  }
  if (lane == 0) warp_sum[warp] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t total = 0;
    for (int w = 0; w < kWarps; w++) total += warp_sum[w];
    a.cta_sums[blockIdx.x] = total;
  }
}

__global__ void __launch_bounds__(kThreads) fill_kernel(const spc_mask_build_args a, int64_t rows_per_cta) {
  __shared__ int64_t warp_total[32];
  __shared__ int64_t row_at[kThreads];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t rows = (int64_t)a.num_heads * a.num_q_blocks;
  const int64_t r0 = (int64_t)blockIdx.x * rows_per_cta, r1 = min(r0 + rows_per_cta, rows);
  /* The blocks of every CTA before this one (at most a few thousand sums). */
  int64_t before = 0;
  for (int64_t c = threadIdx.x; c < blockIdx.x; c += kThreads) before += a.cta_sums[c];
  int64_t base;
  cta_exclusive_scan(before, warp_total, &base);
  __syncthreads(); /* warp_total is read until here and rescanned below */
  for (int64_t c0 = r0; c0 < r1; c0 += kThreads) {
    const int64_t row = c0 + threadIdx.x;
    const int64_t count = row < r1 ? a.counts[row] : 0;
    int64_t chunk_total; /* warp_total is next rewritten after the barrier below */
    const int64_t at = base + cta_exclusive_scan(count, warp_total, &chunk_total);
    if (row < r1) a.row_ptr[row] = at;
    row_at[threadIdx.x] = at;
    base += chunk_total;
    __syncthreads();
    const int64_t n_rows = min((int64_t)kThreads, r1 - c0);
    for (int64_t i = warp; i < n_rows; i += kWarps) {
      const int64_t r = c0 + i, qb = r % a.num_q_blocks;
      const sp_flat_node n = row_rule(a, r);
      const Candidates c = candidates(n, a, qb);
      int64_t e = fill_range(a, n, qb, 0, c.e0, row_at[i], lane);
      fill_range(a, n, qb, c.b1, c.e1, e, lane);
    }
    __syncthreads(); /* row_at is rewritten by the next chunk */
  }
  if (blockIdx.x == gridDim.x - 1 && threadIdx.x == 0) a.row_ptr[rows] = base;
}

}  // namespace spc

extern "C" int spc_mask_kind_supported(int32_t kind) {
  return kind == SPARSA_PATTERN_DENSE || kind == SPARSA_PATTERN_NONE ||
         kind == SPARSA_PATTERN_CAUSAL || kind == SPARSA_PATTERN_WINDOW ||
         kind == SPARSA_PATTERN_DILATED || kind == SPARSA_PATTERN_SINK_WINDOW;
}

extern "C" int spc_launch_mask_build(const spc_mask_build_args *args, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t rows = (int64_t)args->num_heads * args->num_q_blocks;
  if (rows == 0) return 0;
  /* A row a warp: a row's work is a chain of dependent reads (its rule,
   * then its blocks), so rows run side by side rather than one after
   * another. More rows a CTA only where the CTAs would exceed the sums'
   * scratch; the fill kernel's CTAs each add up at most that many sums. */
  int64_t per = (rows + SPC_MASK_BUILD_MAX_CTAS - 1) / SPC_MASK_BUILD_MAX_CTAS;
  if (per < spc::kWarps) per = spc::kWarps;
  const unsigned ctas = (unsigned)((rows + per - 1) / per);
  spc::count_kernel<<<ctas, spc::kThreads, 0, s>>>(*args, per);
  spc::fill_kernel<<<ctas, spc::kThreads, 0, s>>>(*args, per);
  return (int)cudaGetLastError();
}
