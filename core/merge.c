/* sparsa_merge_states: the engine-neutral argument checks. The engine gets
 * a normalized problem (strides, v_head_dim and lse layout made explicit),
 * so it never has to resolve defaults itself. */
#include "context.h"
#include "error.h"
#include "problem.h"

SPARSA_API sparsa_status sparsa_merge_states(sparsa_context *ctx, const sparsa_problem *problem,
                                             const void *out_a, const float *lse_a,
                                             const void *out_b, const float *lse_b, void *out,
                                             float *lse) {
  SP_CHECK_NULL(ctx);
  SP_CHECK_NULL(problem);
  SP_CHECK_NULL(out_a);
  SP_CHECK_NULL(lse_a);
  SP_CHECK_NULL(out_b);
  SP_CHECK_NULL(lse_b);
  SP_CHECK_NULL(out);
  sparsa_problem norm;
  SP_TRY(sp_problem_normalize(problem, &norm));
  if (ctx->ops->merge_states == NULL)
    return sp_fail(SPARSA_ERR_UNSUPPORTED, "sparsa_merge_states: the %s engine cannot merge",
                   ctx->ops->name);
  return ctx->ops->merge_states(ctx, &norm, out_a, lse_a, out_b, lse_b, out, lse);
}
