/* What the estimators' kernels share (estimate_*.cu): element loads, warp
 * and CTA reductions, the admissible key blocks of a row, the order keys
 * of the selection, and the grid of a grid-stride launch.
 *
 * The estimators on the device follow, step for step, their definitions
 * as the CPU engine computes them (core/estimate_blocks.c,
 * estimate_antidiag.c, estimate_vslash.c). Pooled blocks
 * (estimate_pool.cu): block means summed in double; scores scale * qbar .
 * kbar in double; a softmax per sequence over the admissible blocks of a
 * row, averaged over the batch. Antidiagonal (estimate_strided.cu) and
 * vertical-slash (estimate_vslash.cu): a strided score product (tensor
 * cores for bf16 and f16), then each row's softmax in base 2 as the CPU
 * takes it. Every method then selects with the same rule
 * (estimate_select.cu: larger score first, ties to the smaller index;
 * top-k, or the shortest prefix whose running sum, added in that order,
 * reaches the threshold) plus the forced blocks, and the kept indices are
 * compacted into row lists on the device: only the lists come back to
 * the host. */
#ifndef SPARSA_CUDA_ESTIMATE_COMMON_CUH
#define SPARSA_CUDA_ESTIMATE_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "estimate_args.h"
#include "estimate_mass.h"

namespace spc_est {

__device__ __forceinline__ float to_float(const float *p) { return *p; }
__device__ __forceinline__ float to_float(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ float to_float(const __half *p) { return __half2float(*p); }

__device__ __forceinline__ double warp_max(double v) {
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_maxf(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/* CTA-wide reductions through 32 shared slots; every thread gets the
 * result. Called by all threads of the CTA. */
__device__ __forceinline__ float cta_maxf(float v, float *slots) {
  v = warp_maxf(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  float out = slots[0];
  for (int i = 1; i < warps; i++) out = fmaxf(out, slots[i]);
  __syncthreads();
  return out;
}
__device__ __forceinline__ double cta_sum(double v, double *slots) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  double out = 0.0;
  for (int i = 0; i < warps; i++) out += slots[i];
  __syncthreads();
  return out;
}

/* Aligned position of the last query of block r, and the admissible key
 * blocks of row r (a prefix), as sparsa_estimator.h defines them. */
__host__ __device__ __forceinline__ int64_t last_pos(int64_t r, int32_t block_q, int64_t q_len,
                                                     int64_t off) {
  int64_t end = (r + 1) * block_q;
  if (end > q_len) end = q_len;
  return end - 1 + off;
}

__host__ __device__ __forceinline__ int64_t admissible(const spc_select_args &a, int64_t r) {
  if (!a.causal) return a.num_kv_blocks;
  const int64_t last = last_pos(r, a.block_q, a.q_len, a.off);
  if (last < 0) return 0;
  const int64_t n = last / a.block_kv + 1;
  return n < a.num_kv_blocks ? n : a.num_kv_blocks;
}

/* Order keys of scores: sp_order_key and sp_order_value (estimate_mass.h,
 * shared with the core's selection). */

/* The key blocks [*first, *last] that hold the diagonal of query block r
 * (its aligned positions r * block_q + off to last_query, clipped to the
 * keys), or first > last where none does: the diagonal blocks an
 * estimate keeps when asked to. */
__host__ __device__ __forceinline__ void diagonal_blocks(int64_t r, int64_t block_q, int64_t off,
                                                         int64_t last_query, int64_t kv_len,
                                                         int64_t block_kv, int64_t *first,
                                                         int64_t *last) {
  int64_t lo = r * block_q + off, hi = last_query;
  if (lo < 0) lo = 0;
  if (hi > kv_len - 1) hi = kv_len - 1;
  *first = 0;
  *last = -1;
  if (lo <= hi) {
    *first = lo / block_kv;
    *last = hi / block_kv;
  }
}

/* Threads of the CTAs of the sm_80 tensor-core products (four warps). */
constexpr int kMmaThreads = 128;

}  // namespace spc_est

static inline unsigned spc_est_grid(int64_t units, int64_t cap) {
  return (unsigned)(units < cap ? units : cap);
}

#endif
