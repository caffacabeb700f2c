/* The plan handle: a validated copy of the problem, the block lists it runs
 * over (the mask's own for fixed lengths, one per distinct length pair for
 * varlen) and the engine's schedule. */
#ifndef SPARSA_CORE_PLAN_H
#define SPARSA_CORE_PLAN_H

#include "mask.h"

typedef struct sp_sequence {
  int64_t q_start, q_len;     /* token offsets into q/out (varlen) or 0, q_len */
  int64_t kv_start, kv_len;
  int32_t list;               /* index into plan->lists */
} sp_sequence;

struct sparsa_plan {
  sparsa_context *ctx;            /* retained */
  const sparsa_mask *mask;        /* retained, or NULL for dense */
  sparsa_problem problem;         /* normalized: strides, scale, v_head_dim filled in */
  int32_t *cu_seqlens_q;          /* copies, or NULL */
  int32_t *cu_seqlens_kv;
  int32_t group;                  /* q_heads / kv_heads */
  int32_t num_mask_heads;         /* 1 or q_heads */
  sp_sequence *sequences;         /* batch entries */
  int32_t num_lists;
  sp_block_list *lists;           /* owned, except lists == &mask->blocks for fixed lengths */
  int32_t owns_lists;
  const sparsa_pattern **patterns;/* num_mask_heads (mask's, or one dense) */
  sparsa_pattern *dense_pattern;  /* owned when mask is NULL, or the rule within an
                                     engine-held mask's listed blocks */
  const sparsa_pattern **held_patterns; /* owned: num_mask_heads x dense_pattern */
  sparsa_alignment alignment;
  int64_t num_blocks;             /* block products over the batch */
  size_t workspace_bytes;
  void *engine_plan;              /* owned by the engine */
  int32_t block_q;                /* tile sizes of every list (the mask's, or the dense default) */
  int32_t block_kv;
};

#endif
