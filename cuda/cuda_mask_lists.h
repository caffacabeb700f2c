/* Device block lists written by an estimator (estimate_lists): the
 * selection's fill writes them in place, and they become the estimated
 * mask's engine copy (mask->engine_mask, released by mask_fini), so no
 * mask made from an estimate uploads or rebuilds its lists. */
#ifndef SPARSA_CUDA_MASK_LISTS_H
#define SPARSA_CUDA_MASK_LISTS_H

#include "cuda_context.h"
#include "cuda_mask.h"

/* Lists of `rows` rows with room for nnz blocks (row_ptr, col and full
 * are the caller's to fill, in stream order). */
sparsa_status spc_mask_lists_alloc(int64_t rows, int64_t nnz, spc_device_lists **out);
void spc_mask_lists_release(spc_device_lists *lists);

#endif
