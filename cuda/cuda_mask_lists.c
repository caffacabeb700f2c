/* Estimated block lists handed from the estimator to mask_init; see
 * cuda_mask_lists.h. */
#include "cuda_mask_lists.h"

#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_host.h"
#include "device_memory.h"

static _Thread_local spc_lists_offer spc_offer;

sparsa_status spc_mask_lists_alloc(int64_t rows, int64_t nnz, spc_device_lists **out) {
  *out = NULL;
  spc_device_lists *l = spc_calloc(1, sizeof *l);
  if (l == NULL) return spc_fail(SPARSA_ERR_OUT_OF_MEMORY, "CUDA engine: allocating mask state");
  size_t rp = ((size_t)(rows + 1) * sizeof(int64_t) + 63) & ~(size_t)63;
  size_t col = ((size_t)(nnz ? nnz : 1) * sizeof(int32_t) + 63) & ~(size_t)63;
  sparsa_status status =
      spc_device_alloc(&l->mem, rp + col + (size_t)(nnz ? nnz : 1), "a mask's block lists");
  if (status != SPARSA_OK) {
    spc_free(l);
    return status;
  }
  unsigned char *base = l->mem;
  l->row_ptr = (int64_t *)base;
  l->col = (int32_t *)(base + rp);
  l->full = base + rp + col;
  l->num_rows = rows;
  l->nnz_capacity = nnz;
  l->built_on_device = 1;
  l->args.row_ptr = l->row_ptr;
  l->args.col = l->col;
  l->args.full = l->full;
  *out = l;
  return SPARSA_OK;
}

void spc_mask_lists_release(spc_device_lists *l) {
  if (l == NULL) return;
  spc_device_lists_free(l);
  spc_free(l);
}

void spc_mask_lists_drop(void) {
  spc_free(spc_offer.row_ptr);
  spc_free(spc_offer.col);
  spc_free(spc_offer.full);
  spc_mask_lists_release(spc_offer.lists);
  memset(&spc_offer, 0, sizeof spc_offer);
}

void spc_mask_lists_offer(const spc_lists_offer *offer) {
  spc_mask_lists_drop();
  spc_offer = *offer;
}

/* The mask's lists, block for block, are the offered ones. */
static int spc_offer_matches(const sparsa_mask *mask) {
  const spc_lists_offer *o = &spc_offer;
  const sp_block_list *b = &mask->blocks;
  if (o->lists == NULL || o->ctx != spc_ctx(mask->ctx) || b->num_heads != o->num_heads ||
      b->block_q != o->block_q || b->block_kv != o->block_kv ||
      b->num_q_blocks != o->num_q_blocks || b->num_kv_blocks != o->num_kv_blocks)
    return 0;
  const int64_t rows = (int64_t)b->num_heads * b->num_q_blocks;
  if (memcmp(b->row_ptr, o->row_ptr, (size_t)(rows + 1) * sizeof *b->row_ptr) != 0) return 0;
  const int64_t nnz = b->row_ptr[rows];
  sp_block_csr csr;
  if (spc_block_csr(b, &csr) != SPARSA_OK) return 0; /* out of memory: the ordinary path says */
  return memcmp(csr.col, o->col, (size_t)nnz * sizeof *o->col) == 0 &&
         memcmp(csr.full, o->full, (size_t)nnz) == 0;
}

spc_device_lists *spc_mask_lists_take(const sparsa_mask *mask) {
  spc_device_lists *taken = NULL;
  if (spc_offer_matches(mask)) {
    taken = spc_offer.lists;
    spc_offer.lists = NULL;
  }
  spc_mask_lists_drop();
  return taken;
}
