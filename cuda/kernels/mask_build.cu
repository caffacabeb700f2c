/* Block lists built on the device from flat pattern rules, with no host
 * round trip: classify every (head, query block, key block) tile by
 * interval arithmetic on its distances d = p - j (the same rules as the
 * core's host classifier), count each row's listed blocks, scan the counts
 * into row offsets, then classify again and compact each row in order. */
#include <cuda_runtime.h>

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

/* One warp per (head, query block) row: rows hold at most a few thousand
 * key blocks, so warp-level reductions and ballots do all the work and no
 * CTA-wide barrier is needed. */
constexpr int kThreads = 256;
constexpr int kRowsPerCta = kThreads / 32;

__global__ void __launch_bounds__(kThreads) count_kernel(const spc_mask_build_args a) {
  const int64_t row = (int64_t)blockIdx.x * kRowsPerCta + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= (int64_t)a.num_heads * a.num_q_blocks) return;
  const int head = (int)(row / a.num_q_blocks);
  const int64_t qb = row % a.num_q_blocks;
  const sp_flat_node n = a.rules.heads[a.rules.num_heads == 1 ? 0 : head].nodes[0];
  int count = 0;
  for (int64_t kb = lane; kb < a.num_kv_blocks; kb += 32) count += classify(n, a, qb, kb) != kEmpty;
  for (int o = 16; o > 0; o >>= 1) count += __shfl_xor_sync(0xffffffffu, count, o);
  if (lane == 0) a.counts[row] = count;
}

/* One CTA: exclusive scan of the row counts into row_ptr. */
__global__ void __launch_bounds__(1024) scan_kernel(const spc_mask_build_args a) {
  const int64_t rows = (int64_t)a.num_heads * a.num_q_blocks;
  const int64_t per = (rows + blockDim.x - 1) / blockDim.x;
  const int64_t lo = threadIdx.x * per, hi = min(lo + per, rows);
  int64_t local = 0;
  for (int64_t r = lo; r < hi; r++) local += a.counts[r];
  /* Warp-level inclusive scan, then one over the 32 warp totals. */
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int64_t inc = local;
  for (int o = 1; o < 32; o <<= 1) {
    int64_t v = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += v;
  }
  __shared__ int64_t warp_tot[32];
  if (lane == 31) warp_tot[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    int64_t t = warp_tot[lane];
    for (int o = 1; o < 32; o <<= 1) {
      int64_t v = __shfl_up_sync(0xffffffffu, t, o);
      if (lane >= o) t += v;
    }
    warp_tot[lane] = t; /* inclusive over warps */
  }
  __syncthreads();
  int64_t run = inc - local + (warp > 0 ? warp_tot[warp - 1] : 0);
  for (int64_t r = lo; r < hi; r++) {
    a.row_ptr[r] = run;
    run += a.counts[r];
  }
  if (threadIdx.x == blockDim.x - 1) a.row_ptr[rows] = run;
}

__global__ void __launch_bounds__(kThreads) fill_kernel(const spc_mask_build_args a) {
  const int64_t row = (int64_t)blockIdx.x * kRowsPerCta + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= (int64_t)a.num_heads * a.num_q_blocks) return;
  const int head = (int)(row / a.num_q_blocks);
  const int64_t qb = row % a.num_q_blocks;
  const sp_flat_node n = a.rules.heads[a.rules.num_heads == 1 ? 0 : head].nodes[0];
  int64_t at = a.row_ptr[row];
  for (int64_t k0 = 0; k0 < a.num_kv_blocks; k0 += 32) {
    const int64_t kb = k0 + lane;
    const int c = kb < a.num_kv_blocks ? classify(n, a, qb, kb) : kEmpty;
    const unsigned ballot = __ballot_sync(0xffffffffu, c != kEmpty);
    if (c != kEmpty) {
      const int64_t e = at + __popc(ballot & ((1u << lane) - 1));
      a.col[e] = (int32_t)kb;
      a.full[e] = c == kFull;
    }
    at += __popc(ballot);
  }
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
  const unsigned ctas = (unsigned)((rows + spc::kRowsPerCta - 1) / spc::kRowsPerCta);
  spc::count_kernel<<<ctas, spc::kThreads, 0, s>>>(*args);
  spc::scan_kernel<<<1, 1024, 0, s>>>(*args);
  spc::fill_kernel<<<ctas, spc::kThreads, 0, s>>>(*args);
  return (int)cudaGetLastError();
}
