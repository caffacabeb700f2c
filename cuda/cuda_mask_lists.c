/* Device block lists of an estimated mask; see cuda_mask_lists.h. */
#include "cuda_mask_lists.h"

#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_host.h"
#include "device_memory.h"

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
