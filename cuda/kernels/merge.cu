/* merge_states on the device: one warp per (batch, head, query) row, so
 * that every lane has read lse_a and lse_b before lane 0 overwrites them
 * (lse may alias either input, and out either output). */
#include <cuda_runtime.h>

#include "kernel_args.h"
#include "mma_sm80.cuh"

namespace spc {

template <typename T>
__device__ __forceinline__ float load_elem(const T *p);
template <>
__device__ __forceinline__ float load_elem<float>(const float *p) { return *p; }
template <>
__device__ __forceinline__ float load_elem<__nv_bfloat16>(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
template <>
__device__ __forceinline__ float load_elem<__half>(const __half *p) { return __half2float(*p); }

template <typename T>
__device__ __forceinline__ void store_elem(T *p, float x);
template <>
__device__ __forceinline__ void store_elem<float>(float *p, float x) { *p = x; }
template <>
__device__ __forceinline__ void store_elem<__nv_bfloat16>(__nv_bfloat16 *p, float x) { *p = __float2bfloat16_rn(x); }
template <>
__device__ __forceinline__ void store_elem<__half>(__half *p, float x) { *p = __float2half_rn(x); }

template <typename T>
__global__ void __launch_bounds__(256) merge_kernel(const spc_merge_args a) {
  const int64_t row = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= a.num_rows) return;
  int64_t b, h, i;
  if (a.varlen) { /* rows are (head, token) over the packed token axis */
    b = 0;
    h = row / a.q_len;
    i = row % a.q_len;
  } else {
    i = row % a.q_len;
    h = (row / a.q_len) % a.heads;
    b = row / (a.q_len * a.heads);
  }
  const int64_t lo = b * a.l_batch + h * a.l_head + i * a.l_row;
  const int64_t oo = b * a.o_batch + i * a.o_row + h * a.o_head;
  const float la = a.lse_a[lo], lb = a.lse_b[lo];
  const float m = fmaxf(la, lb);
  float wa = 0.f, wb = 0.f, lse = -INFINITY;
  if (m != -INFINITY) {
    float ea = __expf(la - m), eb = __expf(lb - m);
    float s = ea + eb;
    wa = ea / s;
    wb = eb / s;
    lse = m + __logf(s);
  }
  const T *pa = static_cast<const T *>(a.out_a) + oo;
  const T *pb = static_cast<const T *>(a.out_b) + oo;
  T *po = static_cast<T *>(a.out) + oo;
  for (int d = lane; d < a.dim; d += 32) {
    /* Rows of no key on both sides read nothing: their inputs may hold NaN. */
    float x = 0.f;
    if (wa > 0.f) x += wa * load_elem<T>(pa + d);
    if (wb > 0.f) x += wb * load_elem<T>(pb + d);
    store_elem<T>(po + d, x);
  }
  __syncwarp();
  if (lane == 0 && a.lse != nullptr) a.lse[lo] = lse;
}

}  // namespace spc

extern "C" int spc_launch_merge(const spc_merge_args *args, spc_elem elem, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (args->num_rows == 0) return 0;
  const unsigned blocks = (unsigned)((args->num_rows + 7) / 8);
  switch (elem) {
    case SPC_ELEM_BF16: spc::merge_kernel<__nv_bfloat16><<<blocks, 256, 0, s>>>(*args); break;
    case SPC_ELEM_F16: spc::merge_kernel<__half><<<blocks, 256, 0, s>>>(*args); break;
    case SPC_ELEM_F32: spc::merge_kernel<float><<<blocks, 256, 0, s>>>(*args); break;
  }
  return (int)cudaGetLastError();
}
