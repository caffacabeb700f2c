/* The host buffers a context keeps between calls, pageable or page-locked:
 *
 * - those a plan's creation fills and drops (the staging of its schedule,
 *   pageable; the read-back of an estimated mask's lists, page-locked so
 *   that the copies queue behind the kernels and are waited for once),
 *   taken at the start of a plan and given back at its end;
 * - the estimate's stage (page-locked), where an estimate's selection
 *   copies its lists back, used under the context's pool_lock.
 *
 * Why: plans come one after another with the same sizes (estimate ->
 * plan -> execute whenever the mask changes). A fresh staging buffer
 * starts at 4 KB and doubles, copying what it holds each time, up to
 * hundreds of KB (a few MB for vertical-slash masks); a kept one already
 * fits. Measured on an H100 host: 0.17-0.19 ms off a plan on a mask whose
 * host lists were read (staging 0.08 -> 0.02 ms among them), 0.01 ms off
 * a plan on a fresh estimate. Page-locked memory costs far more to get
 * than malloc's (a system call and a mapping for the device), so it is
 * all the more worth keeping.
 *
 * Pageable buffers come from the library's allocator (spc_alloc), so that
 * allocation-failure walks reach them; page-locked ones from the CUDA
 * runtime, and where it has none to give, a page-locked buffer that must
 * grow becomes a pageable one (copies into it return only once done). */
#ifndef SPARSA_CUDA_HOST_BUFFERS_H
#define SPARSA_CUDA_HOST_BUFFERS_H

#include <stddef.h>

struct spc_context;

/* Buffers larger than this are freed rather than kept. */
#define SPC_HOST_KEPT_MAX_BYTES ((size_t)64 << 20)

typedef struct spc_host_buffer {
  void *ptr;    /* NULL: none */
  size_t bytes;
  int pinned;   /* page-locked (cudaMallocHost), else from spc_alloc */
} spc_host_buffer;

/* The largest kept buffer of the kind asked for (the context keeps it no
 * more), or an empty one of that kind. */
spc_host_buffer spc_host_buffers_take(struct spc_context *c, int pinned);
/* Keep buf for a later take when there is room (the smaller of two goes),
 * else free it. Nothing queued may still write it. */
void spc_host_buffers_give(struct spc_context *c, spc_host_buffer buf);
/* Whether the context keeps page-locked memory (its release waits for the
 * stream first). */
int spc_host_buffers_pinned(const struct spc_context *c);
/* Free every kept buffer and the stage (context_fini, once nothing
 * queued writes them). */
void spc_host_buffers_drop(struct spc_context *c);

/* Room for at least bytes in buf, of its kind where it can be had (its
 * content is not kept when it grows); -1 when out of memory (buf
 * unchanged). */
int spc_host_buffer_fit(spc_host_buffer *buf, size_t bytes);
void spc_host_buffer_free(spc_host_buffer *buf);

/* The context's page-locked stage, grown to at least bytes; NULL where
 * page-locked memory cannot be had (the caller's copies then go to
 * pageable memory). Under pool_lock; every user waits for its copies
 * before releasing the lock, so nothing queued writes the stage when it
 * is replaced. */
unsigned char *spc_host_stage(struct spc_context *c, size_t bytes);

#endif
