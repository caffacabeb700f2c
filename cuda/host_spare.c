/* Host buffers kept between plans (host_spare.h). */
#include "host_spare.h"

#include "cuda_host.h"

spc_host_buffer spc_host_spare_take(spc_context *c) {
  spc_host_buffer buf = {NULL, 0};
  pthread_mutex_lock(&c->pool_lock);
  int best = -1;
  for (int i = 0; i < SPC_HOST_SPARES; i++)
    if (c->host_spare[i].ptr != NULL && (best < 0 || c->host_spare[i].bytes > c->host_spare[best].bytes))
      best = i;
  if (best >= 0) {
    buf.ptr = c->host_spare[best].ptr;
    buf.bytes = c->host_spare[best].bytes;
    c->host_spare[best].ptr = NULL;
    c->host_spare[best].bytes = 0;
  }
  pthread_mutex_unlock(&c->pool_lock);
  return buf;
}

void spc_host_spare_give(spc_context *c, spc_host_buffer buf) {
  if (buf.ptr == NULL) return;
  if (buf.bytes > SPC_HOST_SPARE_MAX_BYTES) {
    spc_free(buf.ptr);
    return;
  }
  void *drop = buf.ptr;
  pthread_mutex_lock(&c->pool_lock);
  int slot = -1;
  for (int i = 0; i < SPC_HOST_SPARES; i++) {
    if (c->host_spare[i].ptr == NULL) {
      slot = i;
      break;
    }
    if (c->host_spare[i].bytes < buf.bytes &&
        (slot < 0 || c->host_spare[i].bytes < c->host_spare[slot].bytes))
      slot = i;
  }
  if (slot >= 0) {
    drop = c->host_spare[slot].ptr;
    c->host_spare[slot].ptr = buf.ptr;
    c->host_spare[slot].bytes = buf.bytes;
  }
  pthread_mutex_unlock(&c->pool_lock);
  spc_free(drop);
}

void spc_host_spare_drop(spc_context *c) {
  for (int i = 0; i < SPC_HOST_SPARES; i++) {
    spc_free(c->host_spare[i].ptr);
    c->host_spare[i].ptr = NULL;
    c->host_spare[i].bytes = 0;
  }
}

int spc_host_buffer_fit(spc_host_buffer *buf, size_t bytes) {
  if (buf->ptr != NULL && buf->bytes >= bytes) return 0;
  void *grown = spc_alloc(bytes);
  if (grown == NULL) return -1;
  spc_free(buf->ptr);
  buf->ptr = grown;
  buf->bytes = bytes;
  return 0;
}
