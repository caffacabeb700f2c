/* Device allocation with uniform failure reporting; see device_memory.h. */
#include "device_memory.h"

#include <stdio.h>

#include <cuda_runtime_api.h>

#include "cuda_host.h"

sparsa_status spc_device_alloc(void **out, size_t bytes, const char *what) {
  *out = NULL;
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
