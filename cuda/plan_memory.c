/* A plan's device memory and the context's spare (plan_memory.h). */
#include "plan_memory.h"

#include <cuda_runtime_api.h>

#include "device_fault.h"
#include "device_memory.h"

sparsa_status spc_plan_memory_take(spc_context *c, size_t bytes, void **out, size_t *got) {
  pthread_mutex_lock(&c->pool_lock);
  void *spare = c->spare_plan;
  const size_t spare_bytes = c->spare_plan_bytes;
  c->spare_plan = NULL;
  c->spare_plan_bytes = 0;
  pthread_mutex_unlock(&c->pool_lock);
  if (spare != NULL && spare_bytes >= bytes && spare_bytes - bytes <= spare_bytes / 4) {
    *out = spare;
    *got = spare_bytes;
    return SPARSA_OK;
  }
  spc_device_free(spare); /* the wrong size: its memory is better free */
  *got = bytes;
  return spc_device_alloc(out, bytes, "a plan's schedule and refinement bits");
}

void spc_plan_memory_retire(spc_context *c, void *ptr, size_t bytes) {
  if (ptr == NULL) return;
  if (bytes > SPC_PLAN_SPARE_MAX_BYTES || spc_context_faulted(c)) {
    spc_device_free(ptr);
    return;
  }
  /* cudaFree would wait for the whole device; a spare must too: the plan
   * may have run on a stream the context no longer uses, and its next
   * owner's upload would race those kernels. */
  if (cudaDeviceSynchronize() != cudaSuccess) {
    cudaGetLastError();
    spc_device_free(ptr);
    return;
  }
  pthread_mutex_lock(&c->pool_lock);
  void *old = c->spare_plan;
  c->spare_plan = ptr;
  c->spare_plan_bytes = bytes;
  pthread_mutex_unlock(&c->pool_lock);
  spc_device_free(old);
}

void spc_plan_memory_drop_spare(spc_context *c) {
  spc_device_free(c->spare_plan);
  c->spare_plan = NULL;
  c->spare_plan_bytes = 0;
}
