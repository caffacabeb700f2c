/* Host buffers that a plan's creation fills and drops (the staging of its
 * schedule, the read-back of an estimated mask's lists), kept by the
 * context for its next plan.
 *
 * Why: plans come one after another with the same sizes (estimate ->
 * plan -> execute whenever the mask changes). A fresh staging buffer
 * starts at 4 KB and doubles, copying what it holds each time, up to
 * hundreds of KB (a few MB for vertical-slash masks); a kept one already
 * fits. Measured on an H100 host: 0.17-0.19 ms off a plan on a mask whose
 * host lists were read (staging 0.08 -> 0.02 ms among them), 0.01 ms off
 * a plan on a fresh estimate. */
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
