/* The bits index of a plan on a block estimate's lists (kernel_args.h,
 * spc_slots_args): each entry's slot among the few tiles of its query
 * block that the causal line crosses, written on the device, so that the
 * host neither reads the lists' key blocks and classes back nor walks
 * their ~10^5 entries to number their bit jobs (0.18-0.22 ms of a
 * 0.41-0.45 ms plan on a pooled estimate, on an H100's host). The entries
 * are checked as the host did: key blocks ascending and in range, and
 * every partial one within its slots; a miss is counted in *bad (the plan
 * then fails: what the estimate wrote is wrong). */
#include <cuda_runtime.h>

#include "kernel_args.h"

namespace spc_cs {

/* One warp per row. */
__global__ void __launch_bounds__(256) slots_kernel(const spc_slots_args a) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= a.num_rows) return; /* the whole warp */
  const int lane = threadIdx.x & 31;
  const int64_t qb = row % a.num_q_blocks;
  const int64_t first_query = qb * a.block_q + a.off;
  const int64_t c_min = spc_slots_first_block(first_query, a.block_kv);
  const int64_t begin = a.row_ptr[row], end = a.row_ptr[row + 1];
  unsigned bad = 0;
  for (int64_t e = begin + lane; e < end; e += 32) {
    const int64_t c = a.col[e];
    const int64_t prev = e > begin ? a.col[e - 1] : -1;
    bad += c <= prev || c >= a.num_kv_blocks;
    int32_t slot = -1;
    if (!a.full[e]) {
      const int64_t w = c - c_min;
      bad += w < 0 || w >= a.width;
      slot = (int32_t)(qb * a.width + w);
    }
    a.index[e] = slot;
  }
  for (int o = 16; o > 0; o >>= 1) bad += __shfl_xor_sync(0xffffffffu, bad, o);
  if (lane == 0 && bad != 0) atomicAdd(a.bad, bad);
}

}  // namespace spc_cs

extern "C" int spc_launch_causal_slots(const spc_slots_args *a, void *stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t err = cudaMemsetAsync(a->bad, 0, sizeof *a->bad, s);
  if (err != cudaSuccess) return (int)err;
  if (a->num_rows == 0) return 0;
  const unsigned ctas = (unsigned)((a->num_rows + 7) / 8);
  spc_cs::slots_kernel<<<ctas, 256, 0, s>>>(*a);
  return (int)cudaGetLastError();
}
