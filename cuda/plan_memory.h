/* A plan's device memory (its schedule and refinement bits, one
 * allocation) and the one a context keeps from its last plan destroyed,
 * for the next plan: where masks change every step (estimate, plan,
 * execute, destroy), each plan replaces the last with about as much
 * memory, and a vertical-slash plan's ~200 MB of bits cost a cudaMalloc
 * and a cudaFree of a tenth of a millisecond each. */
#ifndef SPARSA_CUDA_PLAN_MEMORY_H
#define SPARSA_CUDA_PLAN_MEMORY_H

#include <stddef.h>

#include "cuda_context.h"

/* Kept only up to this size: a larger spare would hold more of the
 * device idle than its allocation costs. */
#define SPC_PLAN_SPARE_MAX_BYTES ((size_t)256 << 20)

/* *out = at least bytes of device memory (*got of them): the context's
 * spare where it fits without wasting more than a quarter of itself,
 * else a new allocation (a spare that does not fit is freed first). */
sparsa_status spc_plan_memory_take(spc_context *c, size_t bytes, void **out, size_t *got);
/* A destroyed plan's memory: the context's spare once the device is idle
 * (the previous spare freed), or freed when too large or after a device
 * fault. */
void spc_plan_memory_retire(spc_context *c, void *ptr, size_t bytes);
/* context_fini's: frees the spare. */
void spc_plan_memory_drop_spare(spc_context *c);

#endif
