/* Device block lists built by an estimator, handed to the mask the core
 * then creates from the estimate's specs, so that mask_init neither
 * flattens the estimated patterns nor uploads lists the device already
 * holds. The hand-over stays within the calling thread (the core creates
 * that mask right after the estimate, on the same thread), and the lists
 * are taken only when the mask's host lists are exactly the offered ones;
 * anything else drops them. An offer nobody takes (the core failed before
 * creating the mask) is freed by the thread's next estimate or mask
 * creation. */
#ifndef SPARSA_CUDA_MASK_LISTS_H
#define SPARSA_CUDA_MASK_LISTS_H

#include "cuda_context.h"
#include "cuda_mask.h"

/* Lists of `rows` rows with room for nnz blocks (row_ptr, col and full
 * are the caller's to fill, in stream order). */
sparsa_status spc_mask_lists_alloc(int64_t rows, int64_t nnz, spc_device_lists **out);
void spc_mask_lists_release(spc_device_lists *lists);

/* What an estimate offers: the geometry of its mask, host copies of its
 * lists (row_ptr: rows + 1, col and full: row_ptr[rows]; spc_alloc'ed)
 * and the device lists. */
typedef struct spc_lists_offer {
  const spc_context *ctx;
  int32_t num_heads, block_q, block_kv;
  int64_t num_q_blocks, num_kv_blocks;
  int64_t *row_ptr;
  int32_t *col;
  uint8_t *full;
  spc_device_lists *lists;
} spc_lists_offer;

/* Takes ownership of everything the offer holds (an earlier offer of this
 * thread is dropped). */
void spc_mask_lists_offer(const spc_lists_offer *offer);
/* Drops this thread's offer, if any. */
void spc_mask_lists_drop(void);
/* mask_init's hook: the offered device lists when they are mask's (then
 * the caller's), else NULL; the offer is gone either way. */
spc_device_lists *spc_mask_lists_take(const sparsa_mask *mask);

#endif
