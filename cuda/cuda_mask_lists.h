/* Device block lists written by an estimator (estimate_lists, and
 * vertical-slash's estimate_vslash from its selection's flags): the
 * selection's fill writes them in place, and they become the estimated
 * mask's engine copy (mask->engine_mask, released by mask_fini), so no
 * mask made from an estimate uploads or rebuilds its lists. The lists of
 * the last such mask destroyed are kept for the next estimate of the
 * context, which then allocates nothing on the device. */
#ifndef SPARSA_CUDA_MASK_LISTS_H
#define SPARSA_CUDA_MASK_LISTS_H

#include "cuda_context.h"
#include "cuda_mask.h"

/* The layout of lists of `rows` rows with room for `blocks` key blocks
 * (at least one) in one allocation, device or host: the row offsets
 * first, the key blocks at *col_at, their classes at *full_at; returns
 * its bytes. */
size_t spc_mask_lists_layout(int64_t rows, int64_t blocks, size_t *col_at, size_t *full_at);
/* Lists of `rows` rows with room for nnz blocks and map_words words of
 * vertical-slash maps (row_ptr, col, full and the maps are the caller's
 * to fill, in stream order; map_heads 0 until it has): the context's
 * spare lists when they fit, else new ones. The caller holds
 * c->pool_lock. */
sparsa_status spc_mask_lists_alloc(spc_context *c, int64_t rows, int64_t nnz, int64_t map_words,
                                   spc_device_lists **out);
void spc_mask_lists_release(spc_device_lists *lists);
/* mask_fini's end of an estimated mask's lists (the stream idle): they
 * become the context's spare when small enough, else are freed. */
void spc_mask_lists_retire(spc_context *c, spc_device_lists *lists);
/* context_fini's: frees the spare. */
void spc_mask_lists_drop_spare(spc_context *c);

#endif
