/* The CUDA engine's schedule for a plan: everything the kernels read,
 * built on the host once and copied to the device in one allocation. */
#ifndef SPARSA_CUDA_PLAN_H
#define SPARSA_CUDA_PLAN_H

#include "kernels/kernel_args.h"
#include "plan.h"
#include "tensor_maps.h"

typedef enum spc_plan_kind { SPC_PLAN_PREFILL = 0, SPC_PLAN_DECODE = 1 } spc_plan_kind;

/* Which prefill kernel a plan launches: the mma.sync one (sm_80 and later)
 * or the wgmma one (compute capability 9.0). */
typedef enum spc_prefill_kernel { SPC_PREFILL_SM80 = 0, SPC_PREFILL_SM90 = 1 } spc_prefill_kernel;

typedef struct spc_plan {
  spc_plan_kind kind;
  spc_elem elem;
  int32_t head_dim;
  spc_prefill_kernel prefill_kernel;
  void *device_blob;         /* owns every device array below (plan_memory.h) */
  size_t device_blob_bytes;
  uint64_t *bits;            /* refinement bits of partial tiles (after the schedule) */
  spc_prefill_args prefill;  /* tensor pointers filled per execute */
  spc_tensor_maps maps;      /* Hopper prefill: how K and V maps are encoded per execute */
  spc_decode_args decode;
  size_t partial_o_offset;   /* decode: workspace layout */
  size_t partial_lse_offset;
  size_t counters_offset;    /* one per group, when decode_counters */
  int decode_counters;       /* some group has more than one split */
} spc_plan;

sparsa_status spc_plan_init(sparsa_plan *plan);
/* The engine op plan_init_held: prefill plans on an estimate's device lists. */
sparsa_status spc_plan_init_held(sparsa_plan *plan, int *taken);
void spc_plan_fini(sparsa_plan *plan);
sparsa_status spc_execute(const sparsa_plan *plan, const void *q, const void *k, const void *v,
                          void *out, float *lse, void *workspace, size_t workspace_bytes);
sparsa_status spc_merge_states(sparsa_context *ctx, const sparsa_problem *problem,
                               const void *out_a, const float *lse_a, const void *out_b,
                               const float *lse_b, void *out, float *lse);

#endif
