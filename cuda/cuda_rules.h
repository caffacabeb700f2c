/* Device copies of the mask heads' flat pattern rules (core/pattern_flat.h),
 * which the kernels use to refine partial tiles token by token. */
#ifndef SPARSA_CUDA_RULES_H
#define SPARSA_CUDA_RULES_H

#include "kernels/kernel_args.h"
#include "staging.h"

/* Staged rules of num_heads patterns: where each head's nodes and values
 * and the head table sit in the staging buffer. */
typedef struct spc_rules_stage {
  int32_t num_heads;
  size_t table_offset;   /* num_heads spc_flat_head */
  size_t *offsets;       /* host array: nodes, data offset per head (2 * num_heads) */
  int32_t *num_nodes;    /* host array, num_heads */
  /* host array, num_heads: for a head whose rule depends on a query and a
   * key only through their diagonal offset (bits_share.h), the first head
   * with the same pattern; else -1 */
  int32_t *diagonal_rule;
} spc_rules_stage;

/* Heads that share a pattern (the same pointer as the previous head: an
 * estimate's heads all have the causal one) share its staged rule. */
sparsa_status spc_rules_stage_add(spc_staging *s, const sparsa_pattern *const *patterns,
                                  int32_t num_heads, spc_rules_stage *out);
/* Write device addresses into the staged head table and fill rules. */
void spc_rules_patch(spc_staging *s, const spc_rules_stage *st, void *device_base,
                     spc_rules *rules);
void spc_rules_stage_free(spc_rules_stage *st);

#endif
