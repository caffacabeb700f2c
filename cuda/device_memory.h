/* Device allocations of the engine. One place allocates, so that every
 * failure is reported the same way (SPARSA_ERR_OUT_OF_MEMORY, naming what
 * was being allocated and how much) and leaves no stale error behind: the
 * runtime keeps a failed cudaMalloc as the thread's last error, which the
 * kernel launchers read back after each launch, so an out-of-memory would
 * otherwise surface again as a failed launch in the next, unrelated call. */
#ifndef SPARSA_CUDA_DEVICE_MEMORY_H
#define SPARSA_CUDA_DEVICE_MEMORY_H

#include <stddef.h>

#include "sparsa/sparsa_common.h"

/* *out = bytes of device memory (at least 1), or NULL with the failure
 * recorded. what says what the memory is for ("a plan's schedule"). */
sparsa_status spc_device_alloc(void **out, size_t bytes, const char *what);
/* NULL is ignored. */
void spc_device_free(void *ptr);

#endif
