/**
 * @file sparsa_plan.h
 * @brief Plans and execution: a validated problem and mask, the engine's
 *        schedule for them, and the attention call itself; merging partial
 *        results by their log-sum-exp.
 *
 * @par Semantics every engine shares
 * out[b, i, h, :] = sum_j softmax_j(scale * q[b, i, h] . k[b, j, h / G]) v[b, j, h / G]
 * over the keys j the mask makes visible to (h, i), with G = q_heads /
 * kv_heads. lse[b, h, i] = log(sum_j exp(scale * q . k)) over the same keys.
 * A query row that sees no key gives out = 0 and lse = -inf, never NaN.
 */
#ifndef SPARSA_PLAN_H
#define SPARSA_PLAN_H

#include "sparsa_common.h"
#include "sparsa_context.h"
#include "sparsa_mask.h"
#include "sparsa_problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Opaque, immutable execution plan.
 *
 * @par Thread safety
 * Immutable: sparsa_execute() may run on one plan from many threads at once,
 * each with its own output, lse and workspace buffers.
 * @since 0.1
 */
typedef struct sparsa_plan sparsa_plan;

/**
 * @brief Validate a problem against a mask and build the engine's schedule.
 *
 * The mask gives one pattern per query head or one for all. For fixed
 * lengths its lengths must equal the problem's; for varlen problems its
 * patterns are applied at each sequence's own lengths. @p mask may be NULL
 * for dense attention.
 * @param[in]  ctx     Context (the mask's, if any).
 * @param[in]  problem Problem; copied, cu_seqlens included.
 * @param[in]  mask    Mask, retained by the plan; or NULL.
 * @param[out] out     Receives the plan; NULL on failure.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or inconsistent input; the message
 *         names the field.
 * @retval SPARSA_ERR_VERSION A struct_size too small.
 * @retval SPARSA_ERR_UNSUPPORTED The engine cannot serve this combination
 *         (for example a head dim it has no kernel for).
 * @retval SPARSA_ERR_OUT_OF_MEMORY Allocation failed.
 * @retval SPARSA_ERR_DEVICE The device reported a fault.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_plan_create(sparsa_context *ctx, const sparsa_problem *problem,
                                            const sparsa_mask *mask, sparsa_plan **out);

/**
 * @brief Workspace bytes sparsa_execute() needs for this plan.
 * @param[in]  plan  Plan.
 * @param[out] bytes Receives the size (may be 0).
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_plan_workspace_size(const sparsa_plan *plan, size_t *bytes);

/**
 * @brief Number of block products the plan computes over the whole batch
 *        (its cost in units of one block_q x block_kv tile).
 * @param[in]  plan Plan.
 * @param[out] out  Receives the count.
 * @retval SPARSA_OK Success.
 * @retval SPARSA_ERR_INVALID_ARGUMENT A pointer is NULL.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_plan_num_blocks(const sparsa_plan *plan, int64_t *out);

/**
 * @brief Run attention.
 *
 * Pointers are host memory for the CPU engine and device memory for CUDA.
 * On CUDA the call queues work on the context's stream and returns without
 * synchronizing; it allocates nothing when a workspace is given, and may be
 * captured in a CUDA graph.
 * @param[in]  plan            Plan.
 * @param[in]  q               Queries, laid out as the problem says.
 * @param[in]  k               Keys.
 * @param[in]  v               Values.
 * @param[out] out             Output (problem dtype); must not overlap q, k, v.
 * @param[out] lse             Log-sum-exp (float32), or NULL if not wanted.
 * @param[in]  workspace       At least sparsa_plan_workspace_size() bytes,
 *                             64-byte aligned; or NULL to let the engine
 *                             allocate (one allocation per call).
 * @param[in]  workspace_bytes Size of @p workspace.
 * @retval SPARSA_OK Success (on CUDA: queued).
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL tensors, or a workspace too small
 *         or misaligned.
 * @retval SPARSA_ERR_OUT_OF_MEMORY Workspace allocation failed.
 * @retval SPARSA_ERR_DEVICE The device reported a fault.
 * @par Thread safety
 * Safe from many threads on one plan with distinct out, lse and workspace.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_execute(const sparsa_plan *plan, const void *q, const void *k,
                                        const void *v, void *out, float *lse, void *workspace,
                                        size_t workspace_bytes);

/**
 * @brief Destroy a plan. NULL is accepted and ignored.
 *
 * On a CUDA context the plan's device memory (its schedule and refinement
 * bits) is kept by the context for the next plan that fits it, since
 * plans on estimated masks come one after another with about the same
 * size: one allocation at most, up to 1 GiB or a sixteenth of the
 * device's memory, freed by sparsa_context_destroy(), or when a plan, an
 * estimate or the context's workspace would not fit beside it.
 * @param[in] plan Plan, or NULL; no execute on it may be running.
 * @since 0.1
 */
SPARSA_API void sparsa_plan_destroy(sparsa_plan *plan);

/**
 * @brief Combine two partial attention results over disjoint key sets.
 *
 * For each row (b, h, i): lse = log(exp(lse_a) + exp(lse_b)) and
 * out = (exp(lse_a - lse) out_a + exp(lse_b - lse) out_b); rows where both
 * are -inf give out = 0, lse = -inf. Shapes, dtype, output and lse layouts
 * (and cu_seqlens_q) are those of @p problem; head_dim, kv_heads, kv_len and
 * the q/k/v strides are not used. @p out may alias @p out_a or @p out_b, and
 * @p lse may alias @p lse_a or @p lse_b.
 * @param[in]  ctx     Context (decides host or device memory).
 * @param[in]  problem Problem describing the outputs.
 * @param[in]  out_a   First partial output.
 * @param[in]  lse_a   Its log-sum-exp.
 * @param[in]  out_b   Second partial output.
 * @param[in]  lse_b   Its log-sum-exp.
 * @param[out] out     Merged output.
 * @param[out] lse     Merged log-sum-exp, or NULL.
 * @retval SPARSA_OK Success (on CUDA: queued).
 * @retval SPARSA_ERR_INVALID_ARGUMENT NULL or inconsistent input.
 * @retval SPARSA_ERR_DEVICE The device reported a fault.
 * @par Thread safety
 * Safe from any thread.
 * @since 0.1
 */
SPARSA_API sparsa_status sparsa_merge_states(sparsa_context *ctx, const sparsa_problem *problem,
                                             const void *out_a, const float *lse_a,
                                             const void *out_b, const float *lse_b, void *out,
                                             float *lse);

#ifdef __cplusplus
}
#endif

#endif /* SPARSA_PLAN_H */
