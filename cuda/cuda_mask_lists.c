/* Device block lists of an estimated mask; see cuda_mask_lists.h. */
#include "cuda_mask_lists.h"

#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_host.h"
#include "device_fault.h"
#include "device_memory.h"
#include "plan_memory.h"

/* Spares above this stay unkept: a threshold selection's bound can be
 * every block. */
#define SPC_SPARE_MAX_BYTES ((size_t)64 << 20)

size_t spc_mask_lists_layout(int64_t rows, int64_t blocks, size_t *col_at, size_t *full_at) {
  const size_t room = (size_t)(blocks > 0 ? blocks : 1);
  *col_at = ((size_t)(rows + 1) * sizeof(int64_t) + 63) & ~(size_t)63;
  *full_at = *col_at + ((room * sizeof(int32_t) + 63) & ~(size_t)63);
  return *full_at + room;
}

sparsa_status spc_mask_lists_alloc(spc_context *c, int64_t rows, int64_t nnz, int64_t map_words,
                                   spc_device_lists **out) {
  *out = NULL;
  spc_device_lists *spare = c->spare_lists;
  if (spare != NULL && spare->num_rows == rows && spare->nnz_capacity >= nnz &&
      spare->map_words >= map_words) {
    c->spare_lists = NULL;
    spare->num_partial = -1; /* the index and maps hold an earlier mask's */
    spare->map_heads = 0;
    spare->classes_by_rule = 0;
    *out = spare;
    return SPARSA_OK;
  }
  spc_mask_lists_drop_spare(c); /* the wrong size: its memory is better free */
  spc_device_lists *l = spc_calloc(1, sizeof *l);
  if (l == NULL) return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating mask state");
  size_t col_at, full_at;
  const size_t lists_bytes = spc_mask_lists_layout(rows, nnz, &col_at, &full_at);
  const size_t index_at = (lists_bytes + 255) & ~(size_t)255;
  const size_t maps_at = (index_at + (size_t)(nnz > 0 ? nnz : 1) * sizeof(int32_t) + 255) &
                        ~(size_t)255;
  const size_t bytes = maps_at + (size_t)map_words * sizeof(uint64_t);
  sparsa_status status = spc_context_device_alloc(c, &l->mem, bytes, "a mask's block lists");
  if (status != SPARSA_OK) {
    spc_free(l);
    return status;
  }
  unsigned char *base = l->mem;
  l->row_ptr = (int64_t *)base;
  l->col = (int32_t *)(base + col_at);
  l->full = base + full_at;
  l->bits_index = (int32_t *)(base + index_at);
  l->vslash_maps = map_words > 0 ? (uint64_t *)(base + maps_at) : NULL;
  l->map_words = map_words;
  l->num_partial = -1;
  l->num_rows = rows;
  l->nnz_capacity = nnz;
  l->built_on_device = 1;
  l->spare_bytes = bytes;
  l->args.row_ptr = l->row_ptr;
  l->args.col = l->col;
  l->args.full = l->full;
  /* Cleared once, in stream order: a plan reads the lists back up to
   * their room in one copy (cuda_plan.c), past the entries an estimate
   * writes, and that copy should read no uninitialized memory (a kept
   * spare already holds earlier lists there). */
  const cudaError_t err = cudaMemsetAsync(l->mem, 0, bytes, c->stream);
  if (err != cudaSuccess) {
    spc_mask_lists_release(l);
    return spc_fail_cuda((int)err, "clearing a mask's block lists");
  }
  *out = l;
  return SPARSA_OK;
}

void spc_mask_lists_release(spc_device_lists *l) {
  if (l == NULL) return;
  spc_device_lists_free(l);
  spc_free(l);
}

void spc_mask_lists_retire(spc_context *c, spc_device_lists *l) {
  if (l == NULL) return;
  if (l->spare_bytes == 0 || l->spare_bytes > SPC_SPARE_MAX_BYTES || spc_context_faulted(c)) {
    spc_mask_lists_release(l);
    return;
  }
  pthread_mutex_lock(&c->pool_lock);
  spc_device_lists *old = c->spare_lists;
  c->spare_lists = l;
  pthread_mutex_unlock(&c->pool_lock);
  spc_mask_lists_release(old);
}

void spc_mask_lists_drop_spare(spc_context *c) {
  spc_mask_lists_release(c->spare_lists);
  c->spare_lists = NULL;
}
