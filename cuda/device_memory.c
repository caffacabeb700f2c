/* Device allocation with uniform failure reporting; see device_memory.h. */
#include "device_memory.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <cuda_runtime_api.h>

#include "cuda_host.h"

#ifdef SPARSA_CUDA_FAULT_INJECTION
/* Test builds of the plugin only (cuda/tests): after `n` more successful
 * device allocations every later one fails, until reset with n < 0, as
 * sp_fault_inject_after does for host allocations. Returns the number of
 * device allocations since the last call. */
static _Atomic int64_t spc_inject_left = -1;
static _Atomic int64_t spc_alloc_count;

__attribute__((visibility("default"))) int64_t sparsa_cuda_fault_inject_device_after(int64_t n);
int64_t sparsa_cuda_fault_inject_device_after(int64_t n) {
  atomic_store(&spc_inject_left, n < 0 ? -1 : n);
  return atomic_exchange(&spc_alloc_count, 0);
}

static int spc_inject_failure(void) {
  atomic_fetch_add(&spc_alloc_count, 1);
  int64_t left = atomic_load(&spc_inject_left);
  while (left > 0 && !atomic_compare_exchange_weak(&spc_inject_left, &left, left - 1)) {
  }
  return left == 0;
}
#else
static int spc_inject_failure(void) { return 0; }
#endif

sparsa_status spc_device_alloc(void **out, size_t bytes, const char *what) {
  *out = NULL;
  if (spc_inject_failure())
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY,
                    "CUDA engine: allocating %zu bytes of device memory for %s: the device is out "
                    "of memory (injected failure)",
                    bytes, what);
  cudaError_t err = cudaMalloc(out, bytes ? bytes : 1);
  if (err == cudaSuccess) return SPARSA_OK;
  *out = NULL;
  /* Clear the thread's last error (a device fault stays: it is sticky). */
  cudaGetLastError();
  if (err == cudaErrorMemoryAllocation)
    return spc_fail(SPARSA_ERR_OUT_OF_MEMORY,
                    "CUDA engine: allocating %zu bytes of device memory for %s: the device is out "
                    "of memory",
                    bytes, what);
  char text[160];
  snprintf(text, sizeof text, "allocating %zu bytes of device memory for %s", bytes, what);
  return spc_fail_cuda((int)err, text);
}

void spc_device_free(void *ptr) {
  if (ptr != NULL) cudaFree(ptr);
}
