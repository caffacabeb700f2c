/* Host buffers that a plan's creation fills and drops (the staging of its
 * schedule, the read-back of an estimated mask's lists), kept by the
 * context for its next plan.
 *
 * Why: a plan on a fresh estimate (estimate -> plan -> execute whenever
 * the mask changes, the same sizes each time) used about 1.4 MB of fresh
 * host memory in blocks of 30-500 KB. The C library may map blocks that
 * large afresh on each allocation and unmap them when freed, so that each
 * plan pays a page fault per 4 KB page on first touch again; kept
 * buffers stay resident (with the bit jobs written in place, the pooled
 * plan's staging went from 0.053 to 0.003 ms on an H100 host). */
#ifndef SPARSA_CUDA_HOST_SPARE_H
#define SPARSA_CUDA_HOST_SPARE_H

#include <stddef.h>

#include "cuda_context.h"

/* Buffers larger than this are freed rather than kept. */
#define SPC_HOST_SPARE_MAX_BYTES ((size_t)64 << 20)

typedef struct spc_host_buffer {
  void *ptr; /* from spc_alloc; NULL: none */
  size_t bytes;
} spc_host_buffer;

/* The largest kept buffer (the context keeps it no more), or none. */
spc_host_buffer spc_host_spare_take(spc_context *c);
/* Keep buf for a later take when there is room (the smaller of two goes),
 * else free it. */
void spc_host_spare_give(spc_context *c, spc_host_buffer buf);
/* Free the kept buffers (context_fini). */
void spc_host_spare_drop(spc_context *c);

/* Room for at least bytes in buf (its content is not kept when it grows);
 * -1 when out of memory (buf unchanged). */
int spc_host_buffer_fit(spc_host_buffer *buf, size_t bytes);

#endif
