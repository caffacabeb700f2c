/* The device memory of a plan (its schedule and refinement bits, one
 * allocation), kept by the context when the plan is destroyed and handed
 * to the next plan that fits it.
 *
 * Why: plans on estimated masks come one after another with about the
 * same size (estimate -> plan -> execute -> destroy, whenever the mask
 * changes), and a fresh cudaMalloc of a vertical-slash plan's ~160 MB of
 * bits cost 0.18-0.23 ms of a 0.4-0.6 ms plan on an H100 (and a cudaFree
 * at the destroy). A kept allocation is taken only by a plan that needs
 * at least half of it, so a small plan does not hold a large one; the
 * context keeps one at most, up to a cap that leaves the device's memory
 * to the caller (spc_plan_memory_cap). When a plan, the workspace pool or
 * an estimate's lists do not fit in the device's memory, the kept one is
 * freed and the allocation tried again (spc_context_device_alloc). Tests
 * may have every plan's memory poisoned first (SPARSA_CUDA_POISON_PLANS=1),
 * so that a reused allocation hides no read of what a plan never wrote. */
#ifndef SPARSA_CUDA_PLAN_MEMORY_H
#define SPARSA_CUDA_PLAN_MEMORY_H

#include <stddef.h>

#include "sparsa/sparsa_common.h"

struct spc_context;

/* The largest plan memory a context with this much device memory keeps:
 * 1 GiB, or a sixteenth of the device where that is less. */
size_t spc_plan_memory_cap(size_t device_bytes);

/* *out = at least `bytes` of device memory (*out_bytes: how much), the
 * context's kept memory where it fits, else a new allocation; NULL with
 * the failure recorded. The memory is not cleared. */
sparsa_status spc_plan_memory_take(struct spc_context *c, size_t bytes, void **out,
                                   size_t *out_bytes);
/* A device allocation of the context's own (a plan's, the workspace
 * pool, an estimate's lists): where the device is out of memory, the plan
 * memory the context keeps is freed and the allocation tried again. */
sparsa_status spc_context_device_alloc(struct spc_context *c, void **out, size_t bytes,
                                       const char *what);
/* A destroyed plan's memory, nothing queued reading it any more: kept by
 * the context (replacing what it kept) when under the cap and the context
 * has not faulted, else freed. */
void spc_plan_memory_give(struct spc_context *c, void *memory, size_t bytes);
/* context_fini's: frees what the context keeps. */
void spc_plan_memory_drop(struct spc_context *c);

#endif
