/* sparsa_mask_estimate on a CUDA context: every estimator on the device
 * (q and k are device memory), with the CPU estimator's semantics. */
#ifndef SPARSA_CUDA_ESTIMATE_H
#define SPARSA_CUDA_ESTIMATE_H

#include "estimate.h"
#include "mask.h"

/* The engine op estimate_specs (core/engine.h): one spec per query head. */
sparsa_status spc_estimate_specs(sparsa_context *ctx, const sp_est_input *in,
                                 sp_head_spec *specs);

/* The engine op estimate_lists: a block method's lists into mask. */
sparsa_status spc_estimate_lists(sparsa_context *ctx, const sp_est_input *in, sparsa_mask *mask,
                                 sp_block_csr *lists);

/* The engine op estimate_vslash: the specs, and where it can, the mask's
 * device lists. */
sparsa_status spc_estimate_vslash_mask(sparsa_context *ctx, const sp_est_input *in,
                                       sparsa_mask *mask, sp_head_spec *specs, int *mask_done);

/* The engine op mask_read_lists: the device lists estimate_lists left. */
sparsa_status spc_mask_read_lists(const sparsa_mask *mask, sp_block_csr *out);

#endif
