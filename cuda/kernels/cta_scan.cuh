/* The exclusive prefix sum of one value per thread across a CTA, the step
 * that turns per-thread counts into output offsets (row pointers of block
 * lists, prefix counts of kept flags). */
#ifndef SPARSA_CUDA_KERNELS_CTA_SCAN_CUH
#define SPARSA_CUDA_KERNELS_CTA_SCAN_CUH

#include <stdint.h>

/* The sum of `local` over the CTA's lower threads, and where total is
 * given, the sum over the whole CTA (in every thread). Every thread of a
 * CTA of whole warps (at most 32) calls it; warp_total is __shared__ room
 * for 32 values. Synchronizes the CTA twice, but threads still read
 * warp_total after the second barrier: a caller that scans again with the
 * same warp_total needs a __syncthreads() between the two calls. Each
 * warp scans with shuffles, then warp 0 scans the warps' totals (the
 * slots of warps the CTA lacks are never read back). */
template <typename T>
__device__ __forceinline__ T cta_exclusive_scan(T local, T *warp_total, T *total = nullptr) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  T inc = local;
  for (int o = 1; o < 32; o <<= 1) {
    const T v = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += v;
  }
  if (lane == 31) warp_total[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    T t = warp_total[lane];
    for (int o = 1; o < 32; o <<= 1) {
      const T v = __shfl_up_sync(0xffffffffu, t, o);
      if (lane >= o) t += v;
    }
    warp_total[lane] = t;
  }
  __syncthreads();
  if (total != nullptr) *total = warp_total[(blockDim.x >> 5) - 1];
  return inc - local + (warp > 0 ? warp_total[warp - 1] : 0);
}

/* out[i] = start + in[0] + ... + in[i - 1] for i in [0, n], summed as
 * Acc: the row pointers of lists whose rows hold in[r] entries, or the
 * prefix counts of kept flags (out[c + 1] counts the kept ones up to c).
 * One CTA of whole warps (at most 32) does it all, each thread a
 * contiguous slice of the input. */
template <typename Acc, typename In>
__device__ __forceinline__ void cta_slice_scan(const In *in, int64_t n, Acc *out, Acc start = 0) {
  __shared__ Acc warp_total[32];
  const int64_t per = (n + blockDim.x - 1) / blockDim.x;
  const int64_t lo = threadIdx.x * per < n ? threadIdx.x * per : n;
  const int64_t hi = lo + per < n ? lo + per : n;
  Acc local = 0;
  for (int64_t i = lo; i < hi; i++) local += in[i];
  Acc run = start + cta_exclusive_scan(local, warp_total);
  for (int64_t i = lo; i < hi; i++) {
    out[i] = run;
    run += in[i];
  }
  if (threadIdx.x == blockDim.x - 1) out[n] = run;
}

/* This thread's share of counts[0, n) (n a multiple of 4, counts 16-byte
 * aligned), summed across the CTA by the caller: the offset of a CTA's
 * first row where a fill computes its own row pointers instead of waiting
 * on a single-CTA scan. 16-byte loads, kBatch of them in flight a thread:
 * one trip to L2 for up to 4096 rows, where a load at a time took one trip
 * per 256 rows. */
__device__ __forceinline__ int64_t thread_sum_before(const int32_t *counts, int64_t n) {
  constexpr int kBatch = 4;
  const int4 *counts4 = reinterpret_cast<const int4 *>(counts);
  const int64_t n4 = n / 4;
  int64_t sum = 0;
  for (int64_t i0 = threadIdx.x; i0 < n4; i0 += (int64_t)kBatch * blockDim.x) {
    int4 v[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; j++) {
      const int64_t i = i0 + (int64_t)j * blockDim.x;
      v[j] = i < n4 ? counts4[i] : make_int4(0, 0, 0, 0);
    }
#pragma unroll
    for (int j = 0; j < kBatch; j++) sum += (int64_t)v[j].x + v[j].y + v[j].z + v[j].w;
  }
  return sum;
}

/* row_ptr[r] = base + counts[0] + ... + counts[r - 1] for r in [0, rows]. */
__device__ __forceinline__ void cta_row_pointers(const int32_t *counts, int64_t rows,
                                                 int64_t *row_ptr, int64_t base = 0) {
  cta_slice_scan(counts, rows, row_ptr, base);
}

#endif
