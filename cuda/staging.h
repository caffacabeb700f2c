/* A host staging buffer that collects arrays at aligned offsets, so that a
 * plan or mask reaches the device in one allocation and one copy. */
#ifndef SPARSA_CUDA_STAGING_H
#define SPARSA_CUDA_STAGING_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa/sparsa_common.h"

typedef struct spc_staging {
  unsigned char *host;
  size_t size, capacity;
} spc_staging;

/* Reserve bytes (aligned to 64) and return their offset; SIZE_MAX on
 * allocation failure (the message is recorded). */
size_t spc_staging_reserve(spc_staging *s, size_t bytes);
/* Reserve without zeroing, for bytes the caller writes before the copy
 * to the device (or cuts off by lowering size, when they are the last). */
size_t spc_staging_reserve_unset(spc_staging *s, size_t bytes);
/* Reserve and copy. */
size_t spc_staging_push(spc_staging *s, const void *src, size_t bytes);
static inline void *spc_staging_at(const spc_staging *s, size_t offset) { return s->host + offset; }
/* A device allocation of the staged size (cudaFree'd by the owner): the
 * caller then patches device pointers (base + offset) into the staged
 * structs before spc_staging_copy. */
sparsa_status spc_staging_alloc_device(const spc_staging *s, void **device);
/* Copy the staged bytes to device (synchronously: creation may block). */
sparsa_status spc_staging_copy(const spc_staging *s, void *device, void *stream);
void spc_staging_free(spc_staging *s);

#endif
