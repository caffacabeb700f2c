/* Host staging for one-shot uploads. */
#include "staging.h"

#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_host.h"
#include "device_memory.h"

size_t spc_staging_reserve_unset(spc_staging *s, size_t bytes) {
  const size_t from = s->size, at = (from + 63) & ~(size_t)63;
  if (bytes > SIZE_MAX - at - 64) {
    spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: staging %zu bytes overflows", bytes);
    return SIZE_MAX;
  }
  size_t need = at + bytes;
  if (need > s->capacity) {
    size_t cap = s->capacity ? s->capacity : 4096;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *grown = spc_alloc(cap);
    if (grown == NULL) {
      spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating %zu bytes of host staging", cap);
      return SIZE_MAX;
    }
    if (s->size) memcpy(grown, s->host, s->size);
    spc_free(s->host);
    s->host = grown;
    s->capacity = cap;
  }
  if (at > from) memset(s->host + from, 0, at - from); /* the alignment's padding */
  s->size = need;
  return at;
}

size_t spc_staging_reserve(spc_staging *s, size_t bytes) {
  const size_t at = spc_staging_reserve_unset(s, bytes);
  if (at != SIZE_MAX) memset(s->host + at, 0, bytes);
  return at;
}

size_t spc_staging_push(spc_staging *s, const void *src, size_t bytes) {
  size_t at = spc_staging_reserve(s, bytes);
  if (at != SIZE_MAX && bytes) memcpy(s->host + at, src, bytes);
  return at;
}

sparsa_status spc_staging_alloc_device(const spc_staging *s, void **device) {
  return spc_device_alloc(device, s->size ? s->size : 64, "a plan's or mask's schedule");
}

sparsa_status spc_staging_copy(const spc_staging *s, void *device, void *stream) {
  if (s->size == 0) return SPARSA_OK;
  cudaError_t err =
      cudaMemcpyAsync(device, s->host, s->size, cudaMemcpyHostToDevice, (cudaStream_t)stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize((cudaStream_t)stream);
  if (err != cudaSuccess) return spc_fail_cuda((int)err, "copying a plan or mask to the device");
  return SPARSA_OK;
}

void spc_staging_free(spc_staging *s) {
  spc_free(s->host);
  s->host = NULL;
  s->size = s->capacity = 0;
}
