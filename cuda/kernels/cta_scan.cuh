/* The exclusive prefix sum of one value per thread across a CTA, the step
 * that turns per-thread counts into output offsets (row pointers of block
 * lists, prefix counts of kept flags). */
#ifndef SPARSA_CUDA_KERNELS_CTA_SCAN_CUH
#define SPARSA_CUDA_KERNELS_CTA_SCAN_CUH

#include <stdint.h>

/* The sum of `local` over the CTA's lower threads. Every thread of a CTA
 * of whole warps (at most 32) calls it; warp_total is __shared__ room for
 * 32 values. Synchronizes the CTA twice, but threads still read
 * warp_total after the second barrier: a caller that scans again with the
 * same warp_total needs a __syncthreads() between the two calls (today's
 * callers scan once per kernel). Each warp scans with shuffles, then warp
 * 0 scans the warps' totals (the slots of warps the CTA lacks are never
 * read back). */
template <typename T>
__device__ __forceinline__ T cta_exclusive_scan(T local, T *warp_total) {
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
  return inc - local + (warp > 0 ? warp_total[warp - 1] : 0);
}

/* row_ptr[r] = counts[0] + ... + counts[r - 1] for r in [0, rows]: the
 * row pointers of lists whose rows hold counts[r] entries. One CTA of
 * whole warps (at most 32) does it all, each thread a contiguous slice of
 * the rows. */
__device__ __forceinline__ void cta_row_pointers(const int32_t *counts, int64_t rows,
                                                 int64_t *row_ptr) {
  __shared__ int64_t warp_total[32];
  const int64_t per = (rows + blockDim.x - 1) / blockDim.x;
  const int64_t lo = threadIdx.x * per < rows ? threadIdx.x * per : rows;
  const int64_t hi = lo + per < rows ? lo + per : rows;
  int64_t local = 0;
  for (int64_t r = lo; r < hi; r++) local += counts[r];
  int64_t run = cta_exclusive_scan(local, warp_total);
  for (int64_t r = lo; r < hi; r++) {
    row_ptr[r] = run;
    run += counts[r];
  }
  if (threadIdx.x == blockDim.x - 1) row_ptr[rows] = run;
}

#endif
