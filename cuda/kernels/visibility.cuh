/* Token-level refinement of partial tiles on the device, by the mask
 * head's flat pattern rule. A rule of one node (every built-in kind but
 * unions and intersections) is evaluated directly; trees go through the
 * flat evaluator's stack. */
#ifndef SPARSA_CUDA_VISIBILITY_CUH
#define SPARSA_CUDA_VISIBILITY_CUH

#include "kernel_args.h"

namespace spc {

__device__ __forceinline__ bool head_visible(const spc_rules &rules, int mask_head,
                                             const spc_seq &seq, int64_t i, int64_t j) {
  const spc_flat_head &h = rules.heads[mask_head];
  sp_geom g;
  g.q_len = seq.q_len;
  g.kv_len = seq.kv_len;
  g.off = seq.off;
  if (h.num_nodes == 1) return sp_flat_leaf(h.nodes, h.data, g, i, j) != 0;
  return sp_flat_visible(h.nodes, h.num_nodes, h.data, g, i, j) != 0;
}

}  // namespace spc

#endif
