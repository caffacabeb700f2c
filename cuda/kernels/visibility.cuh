/* Token-level refinement of partial tiles on the device, by the mask
 * head's flat pattern rule. A rule of one node (every built-in kind but
 * unions and intersections) is evaluated directly; trees go through the
 * flat evaluator's stack. Words of 64 keys go through rule_words.h: one
 * pass over the rule per word rather than per key. */
#ifndef SPARSA_CUDA_VISIBILITY_CUH
#define SPARSA_CUDA_VISIBILITY_CUH

#include "kernel_args.h"
#include "rule_words.h"

namespace spc {

__device__ __forceinline__ sp_geom seq_geom(const spc_seq &seq) {
  sp_geom g;
  g.q_len = seq.q_len;
  g.kv_len = seq.kv_len;
  g.off = seq.off;
  return g;
}

__device__ __forceinline__ bool head_visible(const spc_rules &rules, int mask_head,
                                             const spc_seq &seq, int64_t i, int64_t j) {
  const spc_flat_head &h = rules.heads[mask_head];
  const sp_geom g = seq_geom(seq);
  if (h.num_nodes == 1) return sp_flat_leaf(h.nodes, h.data, g, i, j) != 0;
  return sp_flat_visible(h.nodes, h.num_nodes, h.data, g, i, j) != 0;
}

/* Bit c: key j0 + c visible from query i, for c < valid (1..64); the
 * bits from valid up are zero. */
__device__ __forceinline__ uint64_t head_word(const spc_rules &rules, int mask_head,
                                              const spc_seq &seq, int64_t i, int64_t j0,
                                              int valid) {
  const spc_flat_head &h = rules.heads[mask_head];
  if (h.num_nodes <= SP_WORD_MAX_NODES)
    return sp_flat_word(h.nodes, h.num_nodes, h.data, seq_geom(seq), i, j0, valid);
  uint64_t word = 0;
  for (int c = 0; c < valid; c++)
    if (head_visible(rules, mask_head, seq, i, j0 + c)) word |= (uint64_t)1 << c;
  return word;
}

}  // namespace spc

#endif
