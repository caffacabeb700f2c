/* Refinement bits of partial tiles, computed once per plan from the flat
 * pattern rules. Evaluating the rules here, rather than inside the
 * attention kernels, keeps the general evaluator (a loop over a node array
 * with a bit stack) out of the kernels' register budget: a partial tile
 * then costs two 64-bit loads per thread, as cheap as a full one. Each
 * thread makes whole 64-key words (visibility.cuh's head_word). */
#include <cuda_runtime.h>

#include "kernel_args.h"
#include "visibility.cuh"

namespace spc {

__global__ void __launch_bounds__(128) rule_bits_kernel(const spc_bits_args a) {
  const spc_bits_job job = a.jobs[blockIdx.x];
  spc_seq geom;
  geom.q_len = (int32_t)job.q_len;
  geom.kv_len = (int32_t)job.kv_len;
  geom.off = job.off;
  const int total = job.rows * job.words;
  for (int idx = threadIdx.x; idx < total; idx += blockDim.x) {
    const int r = idx / job.words, w = idx % job.words;
    int64_t i;
    int head;
    bool row_ok;
    if (job.mask_head >= 0) {
      i = job.q0 + r;
      head = job.mask_head;
      row_ok = i < job.q_len;
    } else { /* packed decode rows: (q head of the group, query) */
      int pr = job.chunk * SPC_DECODE_ROWS + r;
      row_ok = pr < job.group * job.q_len;
      int q_head = job.kv_head * job.group + (row_ok ? pr / (int)job.q_len : 0);
      head = a.rules.num_heads == 1 ? 0 : q_head;
      i = row_ok ? pr % (int)job.q_len : 0;
    }
    uint64_t word = 0;
    const int64_t j0 = (int64_t)job.kv0 + 64 * w;
    if (row_ok && j0 < job.kv_len) {
      if (a.per_key) {
        for (int c = 0; c < 64; c++) {
          int64_t j = j0 + c;
          if (j < job.kv_len && head_visible(a.rules, head, geom, i, j)) word |= (uint64_t)1 << c;
        }
      } else {
        const int valid = job.kv_len - j0 < 64 ? (int)(job.kv_len - j0) : 64;
        word = head_word(a.rules, head, geom, i, j0, valid);
      }
    }
    a.bits[job.out + idx] = word;
  }
}

}  // namespace spc

extern "C" int spc_launch_bits(const spc_bits_args *args, void *stream) {
  if (args->num_jobs == 0) return 0;
  spc::rule_bits_kernel<<<args->num_jobs, 128, 0, static_cast<cudaStream_t>(stream)>>>(*args);
  return (int)cudaGetLastError();
}
