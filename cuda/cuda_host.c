/* The plugin's side of the host services: messages go to the core's
 * thread-local error, allocations through the core's allocator. */
#include "cuda_host.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "device_fault.h"

static const sp_host_services *spc_host;

void spc_host_bind(const sp_host_services *host) { spc_host = host; }

sparsa_status spc_fail(sparsa_status status, const char *fmt, ...) {
  char text[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(text, sizeof text, fmt, args);
  va_end(args);
  if (spc_host != NULL && spc_host->set_error != NULL) spc_host->set_error(text);
  return status;
}

sparsa_status spc_fail_cuda(int cuda_error, const char *what) {
  cudaError_t err = (cudaError_t)cuda_error;
  if (spc_cuda_error_is_fault(cuda_error)) {
    spc_fault_note(cuda_error);
    return spc_fail(SPARSA_ERR_DEVICE,
                    "CUDA engine: %s: %s (%s): the device faulted; the context can no longer "
                    "use it",
                    what, cudaGetErrorName(err), cudaGetErrorString(err));
  }
  sparsa_status status = err == cudaErrorMemoryAllocation ? SPARSA_ERR_OUT_OF_MEMORY
                                                          : SPARSA_ERR_DEVICE;
  return spc_fail(status, "CUDA engine: %s: %s (%s)", what, cudaGetErrorName(err),
                  cudaGetErrorString(err));
}

void *spc_alloc(size_t bytes) { return spc_host->alloc(bytes == 0 ? 1 : bytes); }

void *spc_calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return NULL;
  void *p = spc_alloc(count * size);
  if (p != NULL) memset(p, 0, count * size);
  return p;
}

void spc_free(void *ptr) {
  if (ptr != NULL) spc_host->release(ptr);
}

sparsa_status spc_block_csr(const struct sp_block_list *list, struct sp_block_csr *out) {
  return spc_host->block_list_csr(list, out);
}
