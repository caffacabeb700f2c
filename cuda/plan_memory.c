/* Device memory of plans kept between them; see plan_memory.h. */
#include "plan_memory.h"

#include <cuda_runtime_api.h>

#include "cuda_context.h"
#include "device_fault.h"
#include "device_memory.h"

size_t spc_plan_memory_cap(size_t device_bytes) {
  const size_t gib = (size_t)1 << 30, share = device_bytes / 16;
  return share < gib ? share : gib;
}

/* The kept memory when it fits `bytes` without being more than twice what
 * it needs (the context keeps it no more), else NULL. */
static void *spc_plan_memory_reuse(spc_context *c, size_t bytes, size_t *out_bytes) {
  void *kept = NULL;
  pthread_mutex_lock(&c->pool_lock);
  const size_t have = c->spare_plan_bytes;
  if (c->spare_plan != NULL && have >= bytes && have / 2 <= bytes) {
    kept = c->spare_plan;
    *out_bytes = have;
    c->spare_plan = NULL;
    c->spare_plan_bytes = 0;
  }
  pthread_mutex_unlock(&c->pool_lock);
  return kept;
}

sparsa_status spc_plan_memory_take(spc_context *c, size_t bytes, void **out, size_t *out_bytes) {
  *out = spc_plan_memory_reuse(c, bytes, out_bytes);
  if (*out != NULL) return SPARSA_OK;
  *out_bytes = bytes;
  sparsa_status status = spc_device_alloc(out, bytes, "a plan's schedule and refinement bits");
  if (status == SPARSA_ERR_OUT_OF_MEMORY) {
    /* The kept memory may be what the device lacks: free it, try again. */
    pthread_mutex_lock(&c->pool_lock);
    void *kept = c->spare_plan;
    c->spare_plan = NULL;
    c->spare_plan_bytes = 0;
    pthread_mutex_unlock(&c->pool_lock);
    if (kept != NULL) {
      cudaFree(kept);
      status = spc_device_alloc(out, bytes, "a plan's schedule and refinement bits");
    }
  }
  return status;
}

void spc_plan_memory_give(spc_context *c, void *memory, size_t bytes) {
  if (memory == NULL) return;
  void *drop = memory;
  if (bytes <= c->spare_plan_cap && !spc_context_faulted(c)) {
    pthread_mutex_lock(&c->pool_lock);
    drop = c->spare_plan; /* the latest plan's size is the likelier next one */
    c->spare_plan = memory;
    c->spare_plan_bytes = bytes;
    pthread_mutex_unlock(&c->pool_lock);
  }
  if (drop != NULL) cudaFree(drop);
}

void spc_plan_memory_drop(spc_context *c) {
  if (c->spare_plan != NULL) cudaFree(c->spare_plan);
  c->spare_plan = NULL;
  c->spare_plan_bytes = 0;
}
