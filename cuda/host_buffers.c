/* Host buffers a context keeps between calls (host_buffers.h). */
#include "host_buffers.h"

#include <cuda_runtime_api.h>

#include "cuda_context.h"
#include "cuda_host.h"

/* Page-locked memory of at least bytes, or NULL (the runtime's failure
 * cleared: it is not sticky, and would otherwise surface at the next
 * launch check). */
static void *spc_pinned_alloc(size_t bytes) {
  void *p = NULL;
  if (cudaMallocHost(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    return NULL;
  }
  return p;
}

void spc_host_buffer_free(spc_host_buffer *buf) {
  if (buf->ptr != NULL) {
    if (!buf->pinned)
      spc_free(buf->ptr);
    else if (cudaFreeHost(buf->ptr) != cudaSuccess)
      cudaGetLastError(); /* after a device fault: not to be read back by a launch check */
  }
  buf->ptr = NULL;
  buf->bytes = 0;
}

int spc_host_buffer_fit(spc_host_buffer *buf, size_t bytes) {
  if (buf->ptr != NULL && buf->bytes >= bytes) return 0;
  spc_host_buffer grown = {NULL, bytes, buf->pinned};
  if (grown.pinned) {
    /* Some room to spare: lists a little longer than the last ones should
     * not cost another page-locked allocation. */
    grown.bytes = bytes + bytes / 4;
    grown.ptr = spc_pinned_alloc(grown.bytes);
    if (grown.ptr == NULL) grown = (spc_host_buffer){NULL, bytes, 0};
  }
  if (grown.ptr == NULL) grown.ptr = spc_alloc(bytes);
  if (grown.ptr == NULL) return -1;
  spc_host_buffer_free(buf);
  *buf = grown;
  return 0;
}

spc_host_buffer spc_host_buffers_take(spc_context *c, int pinned) {
  spc_host_buffer buf = {NULL, 0, pinned};
  pthread_mutex_lock(&c->pool_lock);
  int best = -1;
  for (int i = 0; i < SPC_HOST_KEPT; i++) {
    const spc_host_buffer *k = &c->host_kept[i];
    if (k->ptr != NULL && k->pinned == pinned && (best < 0 || k->bytes > c->host_kept[best].bytes))
      best = i;
  }
  if (best >= 0) {
    buf = c->host_kept[best];
    c->host_kept[best] = (spc_host_buffer){NULL, 0, 0};
  }
  pthread_mutex_unlock(&c->pool_lock);
  return buf;
}

void spc_host_buffers_give(spc_context *c, spc_host_buffer buf) {
  if (buf.ptr == NULL) return;
  if (buf.bytes > SPC_HOST_KEPT_MAX_BYTES) {
    spc_host_buffer_free(&buf);
    return;
  }
  spc_host_buffer drop = buf;
  pthread_mutex_lock(&c->pool_lock);
  int slot = -1;
  for (int i = 0; i < SPC_HOST_KEPT; i++) {
    const spc_host_buffer *k = &c->host_kept[i];
    if (k->ptr == NULL) {
      slot = i;
      break;
    }
    if (k->bytes < buf.bytes && (slot < 0 || k->bytes < c->host_kept[slot].bytes)) slot = i;
  }
  if (slot >= 0) {
    drop = c->host_kept[slot];
    c->host_kept[slot] = buf;
  }
  pthread_mutex_unlock(&c->pool_lock);
  spc_host_buffer_free(&drop);
}

int spc_host_buffers_pinned(const spc_context *c) {
  int pinned = c->host_stage.ptr != NULL;
  for (int i = 0; i < SPC_HOST_KEPT; i++) pinned |= c->host_kept[i].ptr != NULL && c->host_kept[i].pinned;
  return pinned;
}

void spc_host_buffers_drop(spc_context *c) {
  for (int i = 0; i < SPC_HOST_KEPT; i++) spc_host_buffer_free(&c->host_kept[i]);
  spc_host_buffer_free(&c->host_stage);
}

unsigned char *spc_host_stage(spc_context *c, size_t bytes) {
  spc_host_buffer *s = &c->host_stage;
  if (s->ptr != NULL && s->bytes >= bytes) return s->ptr;
  const size_t grow = bytes < ((size_t)1 << 20) ? (size_t)1 << 20 : bytes;
  void *p = spc_pinned_alloc(grow);
  if (p == NULL) return NULL;
  spc_host_buffer_free(s);
  *s = (spc_host_buffer){p, grow, 1};
  return p;
}
