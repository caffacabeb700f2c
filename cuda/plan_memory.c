/* Device memory of plans kept between them; see plan_memory.h. */
#include "plan_memory.h"

#include <cuda_runtime_api.h>

#include "cuda_context.h"
#include "cuda_host.h"
#include "device_fault.h"
#include "device_memory.h"
#include "env_flag.h"

size_t spc_plan_memory_cap(size_t device_bytes) {
  const size_t gib = (size_t)1 << 30, share = device_bytes / 16;
  return share < gib ? share : gib;
}

/* The kept memory when it fits `bytes` without being more than twice what
 * it needs (the context keeps it no more), else NULL. */
static void *spc_plan_memory_reuse(spc_context *c, size_t bytes, size_t *out_bytes) {
  void *kept = NULL;
  pthread_mutex_lock(&c->spare_plan_lock);
  const size_t have = c->spare_plan_bytes;
  if (c->spare_plan != NULL && have >= bytes && have / 2 <= bytes) {
    kept = c->spare_plan;
    *out_bytes = have;
    c->spare_plan = NULL;
    c->spare_plan_bytes = 0;
  }
  pthread_mutex_unlock(&c->spare_plan_lock);
  return kept;
}

/* With SPARSA_CUDA_POISON_PLANS=1 in the environment (the GPU check
 * sets it for a pass of the tests), a plan's memory is filled with 0xA5
 * bytes before the plan writes it: a kernel that reads what its plan never
 * wrote then reads garbage, not what an earlier plan left there. */
static int spc_poison_plans(void) {
  static atomic_int read_once = -1;
  return spc_env_flag("SPARSA_CUDA_POISON_PLANS", &read_once);
}

static sparsa_status spc_plan_memory_poison(spc_context *c, void *memory, size_t bytes) {
  if (!spc_poison_plans()) return SPARSA_OK;
  const cudaError_t err = cudaMemsetAsync(memory, 0xA5, bytes, c->stream);
  if (err == cudaSuccess) return SPARSA_OK;
  spc_plan_memory_give(c, memory, bytes);
  return spc_fail_cuda((int)err, "poisoning a plan's memory");
}

sparsa_status spc_context_device_alloc(spc_context *c, void **out, size_t bytes, const char *what) {
  sparsa_status status = spc_device_alloc(out, bytes, what);
  if (status != SPARSA_ERR_OUT_OF_MEMORY) return status;
  /* The kept plan memory may be what the device lacks: free it, try again. */
  pthread_mutex_lock(&c->spare_plan_lock);
  void *kept = c->spare_plan;
  c->spare_plan = NULL;
  c->spare_plan_bytes = 0;
  pthread_mutex_unlock(&c->spare_plan_lock);
  if (kept == NULL) return status;
  cudaFree(kept);
  return spc_device_alloc(out, bytes, what);
}

sparsa_status spc_plan_memory_take(spc_context *c, size_t bytes, void **out, size_t *out_bytes) {
  *out = spc_plan_memory_reuse(c, bytes, out_bytes);
  if (*out == NULL) {
    *out_bytes = bytes;
    SPC_TRY(spc_context_device_alloc(c, out, bytes, "a plan's schedule and refinement bits"));
  }
  const sparsa_status status = spc_plan_memory_poison(c, *out, *out_bytes);
  if (status != SPARSA_OK) *out = NULL;
  return status;
}

void spc_plan_memory_give(spc_context *c, void *memory, size_t bytes) {
  if (memory == NULL) return;
  void *drop = memory;
  if (bytes <= c->spare_plan_cap && !spc_context_faulted(c)) {
    pthread_mutex_lock(&c->spare_plan_lock);
    drop = c->spare_plan; /* the latest plan's size is the likelier next one */
    c->spare_plan = memory;
    c->spare_plan_bytes = bytes;
    pthread_mutex_unlock(&c->spare_plan_lock);
  }
  if (drop != NULL) cudaFree(drop);
}

void spc_plan_memory_drop(spc_context *c) {
  if (c->spare_plan != NULL) cudaFree(c->spare_plan);
  c->spare_plan = NULL;
  c->spare_plan_bytes = 0;
}
