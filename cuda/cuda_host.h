/* What the plugin borrows from the core that loaded it: error reporting and
 * host allocation. The plugin cannot link libsparsa's hidden symbols, so
 * the core hands these over in sp_host_services at load time. */
#ifndef SPARSA_CUDA_HOST_H
#define SPARSA_CUDA_HOST_H

#include <stddef.h>

#include "engine.h"

#if defined(__GNUC__)
#define SPC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SPC_PRINTF(f, a)
#endif

/* Remember the core's services (called once by the entry point). */
void spc_host_bind(const sp_host_services *host);

/* Record a message in the core's thread-local error and return status. */
sparsa_status spc_fail(sparsa_status status, const char *fmt, ...) SPC_PRINTF(2, 3);

/* Map a CUDA runtime error (an int, so this header needs no CUDA headers)
 * to a status with a message "what: cudaErrorName (description)". Out of
 * memory maps to SPARSA_ERR_OUT_OF_MEMORY, everything else to DEVICE; a
 * device fault is also noted for the calling operation's context
 * (device_fault.h), which then refuses every later operation. */
sparsa_status spc_fail_cuda(int cuda_error, const char *what);

/* Host memory through the core's allocator (fault-injectable in tests). */
void *spc_alloc(size_t bytes);
void *spc_calloc(size_t count, size_t size);
void spc_free(void *ptr);

/* The per-block view of a core block list (sp_block_list_csr). */
sparsa_status spc_block_csr(const struct sp_block_list *list, struct sp_block_csr *out);

#define SPC_CHECK_NULL(ptr)                                                         \
  do {                                                                              \
    if ((ptr) == NULL)                                                              \
      return spc_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: %s is NULL", __func__, #ptr); \
  } while (0)

#define SPC_TRY(expr)                                              \
  do {                                                             \
    sparsa_status spc_try_status_ = (expr);                        \
    if (spc_try_status_ != SPARSA_OK) return spc_try_status_;      \
  } while (0)

/* Run a CUDA runtime call; on failure record "what: error" and return. */
#define SPC_CUDA_TRY(call, what)                                   \
  do {                                                             \
    cudaError_t spc_cuda_err_ = (call);                            \
    if (spc_cuda_err_ != cudaSuccess) return spc_fail_cuda((int)spc_cuda_err_, what); \
  } while (0)

#endif
