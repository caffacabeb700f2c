/* Engine state of a CUDA context: the bound device, the stream work is
 * queued on, what the kernels need to know about the device, and the
 * workspace pool used when execute is given no workspace. */
#ifndef SPARSA_CUDA_CONTEXT_H
#define SPARSA_CUDA_CONTEXT_H

#include <pthread.h>
#include <stdatomic.h>

#include <cuda_runtime_api.h>

#include "context.h"
#include "host_buffers.h"

/* Host buffers a context keeps between plans: a plan's staging and its
 * read-back of an estimated mask's lists. */
enum { SPC_HOST_KEPT = 2 };

typedef struct spc_context {
  int device;
  cudaStream_t stream;      /* borrowed from the caller; NULL: legacy default stream */
  int sm_count;
  int cc_major, cc_minor;
  size_t smem_per_block_optin;
  size_t device_bytes;      /* the device's memory in all */
  /* Grown at plan creation (never on the hot path) to the largest
   * workspace of the context's plans; used in stream order. */
  pthread_mutex_t pool_lock;
  void *pool;
  size_t pool_bytes;
  /* The device lists of the last estimated mask destroyed, kept for the
   * next estimate (estimates come one after another, each mask replacing
   * the last); guarded by pool_lock. */
  struct spc_device_lists *spare_lists;
  /* The device memory of the last plan destroyed, kept for the next plan
   * (plan_memory.h), up to spare_plan_cap bytes; guarded by its own lock,
   * since allocations made under pool_lock may free it. */
  pthread_mutex_t spare_plan_lock;
  void *spare_plan;
  size_t spare_plan_bytes, spare_plan_cap;
  /* Page-locked host room for what an estimate copies back (its lists'
   * offsets and indices, the mask's flag), so that the copies are queued
   * behind the kernels and waited for once; grown on demand, guarded by
   * pool_lock. */
  spc_host_buffer host_stage;
  /* Host buffers of the last plans, kept for the next; guarded by
   * pool_lock. Both kept by host_buffers.c. */
  spc_host_buffer host_kept[SPC_HOST_KEPT];
  /* The CUDA error of the first device fault seen (0: none); once set,
   * operations that reach the device fail (device_fault.h). */
  _Atomic int fault;
} spc_context;

static inline spc_context *spc_ctx(const sparsa_context *ctx) {
  return (spc_context *)ctx->engine_state;
}

sparsa_status spc_context_init(sparsa_context *ctx, int32_t device);
/* The architecture of the device code the context runs: "sm_90a" on
 * compute capability 9.0, "sm_80" on 8.x (the only two it accepts). */
const char *spc_kernel_path(const sparsa_context *ctx);
void spc_context_fini(sparsa_context *ctx);
sparsa_status spc_context_set_stream(sparsa_context *ctx, void *stream);
sparsa_status spc_context_synchronize(sparsa_context *ctx);

/* Make the current thread use the context's device (cheap when it already does). */
sparsa_status spc_context_activate(const spc_context *c);

/* Grow the pool to at least bytes (synchronizes the stream when it grows). */
sparsa_status spc_context_reserve_pool(spc_context *c, size_t bytes);

#endif
