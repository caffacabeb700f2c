/* Plans: the engine-neutral half. Validates a problem against a mask,
 * resolves the block lists every sequence runs over (the mask's own for
 * fixed lengths, one per distinct length pair for varlen batches) and hands
 * the result to the engine, which adds its schedule. Also the argument
 * checks of sparsa_execute(), shared by every engine. */
#include "plan.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "problem.h"

/* Block sizes of dense plans (no mask): the mask default. */
enum { SP_DENSE_BLOCK_Q = 64, SP_DENSE_BLOCK_KV = 64 };

static void sp_plan_free(sparsa_plan *plan) {
  if (plan == NULL) return;
  if (plan->owns_lists && plan->lists != NULL) {
    for (int32_t i = 0; i < plan->num_lists; i++) sp_block_list_free(&plan->lists[i]);
    sp_free(plan->lists);
  }
  sp_free(plan->sequences);
  sp_free((void *)plan->held_patterns);
  sp_free(plan->cu_seqlens_q);
  sp_free(plan->cu_seqlens_kv);
  if (plan->dense_pattern != NULL) sparsa_pattern_destroy(plan->dense_pattern);
  if (plan->mask != NULL) sp_mask_release(plan->mask);
  if (plan->ctx != NULL) sp_context_release(plan->ctx);
  sp_free(plan);
}

static sparsa_status sp_plan_check_mask(const sparsa_context *ctx, const sparsa_problem *p,
                                        const sparsa_mask *mask) {
  if (mask->ctx != ctx)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_plan_create: the mask belongs to another context");
  int32_t heads = mask->blocks.num_heads;
  if (heads != 1 && heads != p->q_heads)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_plan_create: mask has %d heads: must be 1 or problem.q_heads = %d",
                   (int)heads, (int)p->q_heads);
  if (p->cu_seqlens_q == NULL) {
    if (mask->geom.q_len != p->q_len)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "sparsa_plan_create: mask q_len = %lld differs from problem.q_len = %lld",
                     (long long)mask->geom.q_len, (long long)p->q_len);
    if (mask->geom.kv_len != p->kv_len)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "sparsa_plan_create: mask kv_len = %lld differs from problem.kv_len = %lld",
                     (long long)mask->geom.kv_len, (long long)p->kv_len);
  }
  return SPARSA_OK;
}

static int32_t *sp_copy_offsets(const int32_t *src, int32_t batch) {
  int32_t *copy = sp_malloc(sp_mul_size((size_t)batch + 1, sizeof *copy));
  if (copy != NULL) memcpy(copy, src, ((size_t)batch + 1) * sizeof *copy);
  return copy;
}

/* Sorting key for grouping sequences by their length pair. */
typedef struct sp_length_pair {
  int64_t q_len, kv_len;
  int32_t seq;
} sp_length_pair;

static int sp_length_pair_cmp(const void *a, const void *b) {
  const sp_length_pair *x = a, *y = b;
  if (x->q_len != y->q_len) return x->q_len < y->q_len ? -1 : 1;
  if (x->kv_len != y->kv_len) return x->kv_len < y->kv_len ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static sparsa_status sp_build_list(const sparsa_plan *plan, int64_t q_len, int64_t kv_len,
                                   sp_block_list *out) {
  sp_geom g = sp_geom_make(q_len, kv_len, plan->alignment);
  for (int32_t h = 0; h < plan->num_mask_heads; h++) {
    sparsa_status status = sp_pattern_check_geometry(plan->patterns[h], &g);
    if (status != SPARSA_OK) return status;
  }
  return sp_block_list_build(plan->patterns, plan->num_mask_heads, &g, plan->block_q,
                             plan->block_kv, out);
}

/* Fixed lengths: one sequence shape, the mask's own list (or a dense one). */
static sparsa_status sp_plan_fixed_lists(sparsa_plan *plan) {
  const sparsa_problem *p = &plan->problem;
  if (plan->mask != NULL) {
    /* Read-only use: the plan never writes a list it does not own. */
    plan->lists = (sp_block_list *)&plan->mask->blocks;
    plan->num_lists = 1;
    plan->owns_lists = 0;
  } else {
    plan->lists = sp_calloc(1, sizeof *plan->lists);
    if (plan->lists == NULL)
      return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_plan_create: allocating the block list");
    plan->owns_lists = 1;
    SP_TRY(sp_build_list(plan, p->q_len, p->kv_len, &plan->lists[0]));
    plan->num_lists = 1;
  }
  for (int32_t b = 0; b < p->batch; b++) {
    plan->sequences[b].q_start = 0;
    plan->sequences[b].q_len = p->q_len;
    plan->sequences[b].kv_start = 0;
    plan->sequences[b].kv_len = p->kv_len;
    plan->sequences[b].list = 0;
  }
  return SPARSA_OK;
}

/* Varlen: one list per distinct (q_len, kv_len) among sequences that have
 * work. A sequence without queries has nothing to do; one with queries but
 * no keys only writes zero rows and -inf lse (list = -1). */
static sparsa_status sp_plan_varlen_lists(sparsa_plan *plan) {
  const sparsa_problem *p = &plan->problem;
  int32_t batch = p->batch;
  for (int32_t b = 0; b < batch; b++) {
    sp_sequence *s = &plan->sequences[b];
    s->q_start = plan->cu_seqlens_q[b];
    s->q_len = (int64_t)plan->cu_seqlens_q[b + 1] - plan->cu_seqlens_q[b];
    s->kv_start = plan->cu_seqlens_kv[b];
    s->kv_len = (int64_t)plan->cu_seqlens_kv[b + 1] - plan->cu_seqlens_kv[b];
    s->list = -1;
  }
  sp_length_pair *pairs = sp_malloc(sp_mul_size((size_t)batch, sizeof *pairs));
  plan->lists = sp_calloc((size_t)batch, sizeof *plan->lists);
  plan->owns_lists = 1;
  if (pairs == NULL || plan->lists == NULL) {
    sp_free(pairs);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_plan_create: allocating varlen block lists");
  }
  int32_t n = 0;
  for (int32_t b = 0; b < batch; b++) {
    const sp_sequence *s = &plan->sequences[b];
    if (s->q_len > 0 && s->kv_len > 0)
      pairs[n++] = (sp_length_pair){s->q_len, s->kv_len, b};
  }
  qsort(pairs, (size_t)n, sizeof *pairs, sp_length_pair_cmp);
  sparsa_status status = SPARSA_OK;
  for (int32_t i = 0; i < n && status == SPARSA_OK; i++) {
    int new_shape = i == 0 || pairs[i].q_len != pairs[i - 1].q_len ||
                    pairs[i].kv_len != pairs[i - 1].kv_len;
    if (new_shape) {
      status = sp_build_list(plan, pairs[i].q_len, pairs[i].kv_len, &plan->lists[plan->num_lists]);
      if (status != SPARSA_OK) break;
      plan->num_lists++;
    }
    plan->sequences[pairs[i].seq].list = plan->num_lists - 1;
  }
  sp_free(pairs);
  return status;
}

/* Block products over the batch: a shared pattern runs once per q head. */
static int64_t sp_plan_count_blocks(const sparsa_plan *plan) {
  int64_t total = 0;
  int32_t head_factor = plan->num_mask_heads == 1 ? plan->problem.q_heads : 1;
  for (int32_t b = 0; b < plan->problem.batch; b++) {
    int32_t l = plan->sequences[b].list;
    if (l < 0) continue;
    const sp_block_list *list = &plan->lists[l];
    total += list->row_ptr[(int64_t)list->num_heads * list->num_q_blocks] * head_factor;
  }
  return total;
}

/* A fixed-length plan goes to an engine that plans from the mask's lists
 * on its own side (the CUDA engine keeps every mask's lists on its device:
 * an estimate's from the start, any other's since mask_init): the host
 * lists are then neither converted nor uploaded again, and an estimate's
 * are never built at all if no host reader asked for them. That a host
 * reader did (a density query before the plan) changes nothing: the
 * engine's lists are the same blocks. Within a listed block the mask is
 * its patterns (its own, or its specs': a vertical-slash estimate's
 * engine may keep those, read then only if it asks), else, for a mask
 * made from lists alone, the causal rule (or every pair). */
static sparsa_status sp_plan_engine_held(sparsa_plan *plan, int *taken) {
  *taken = 0;
  const sparsa_mask *mask = plan->mask;
  const sp_engine_ops *ops = plan->ctx->ops;
  if (mask == NULL || plan->problem.cu_seqlens_q != NULL || mask->engine_mask == NULL ||
      ops->struct_size < offsetof(sp_engine_ops, plan_init_held) + sizeof ops->plan_init_held ||
      ops->plan_init_held == NULL)
    return SPARSA_OK;
  sparsa_status status = SPARSA_OK;
  /* Patterns still on the engine's side are read only if it asks. */
  const int on_engine = sp_mask_patterns_on_engine(mask);
  if (sp_mask_has_patterns(mask) && !on_engine) {
    const sparsa_pattern *const *patterns = NULL;
    status = sp_mask_patterns(mask, &patterns);
    plan->patterns = (const sparsa_pattern **)patterns;
  } else if (!on_engine) {
    status = mask->lists_causal ? sparsa_pattern_create_causal(&plan->dense_pattern)
                                : sparsa_pattern_create_dense(&plan->dense_pattern);
    if (status == SPARSA_OK) {
      plan->held_patterns = sp_malloc(sp_mul_size((size_t)plan->num_mask_heads,
                                                  sizeof *plan->held_patterns));
      if (plan->held_patterns == NULL)
        status = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_plan_create: allocating %d patterns",
                         (int)plan->num_mask_heads);
    }
    for (int32_t h = 0; status == SPARSA_OK && h < plan->num_mask_heads; h++)
      plan->held_patterns[h] = plan->dense_pattern;
    plan->patterns = plan->held_patterns;
  }
  if (status == SPARSA_OK) status = ops->plan_init_held(plan, taken);
  if (status == SPARSA_OK && !*taken && on_engine) {
    const sparsa_pattern *const *patterns = NULL;
    status = sp_mask_patterns(mask, &patterns);
    plan->patterns = (const sparsa_pattern **)patterns;
    if (status == SPARSA_OK) status = ops->plan_init_held(plan, taken);
  }
  if (status == SPARSA_OK && !*taken) { /* the host lists' plan, as any mask's */
    sp_free((void *)plan->held_patterns);
    plan->held_patterns = NULL;
    if (plan->dense_pattern != NULL) sparsa_pattern_destroy(plan->dense_pattern);
    plan->dense_pattern = NULL;
    plan->patterns = NULL;
  }
  return status;
}

/* The mask's block lists and patterns, read (for a mask made from an
 * engine's lists, built) now if nothing has. */
static sparsa_status sp_plan_read_mask(sparsa_plan *plan) {
  const sp_block_list *blocks = NULL;
  const sparsa_pattern *const *patterns = NULL;
  SP_TRY(sp_mask_block_list(plan->mask, &blocks));
  SP_TRY(sp_mask_patterns(plan->mask, &patterns));
  plan->patterns = (const sparsa_pattern **)patterns;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_plan_create(sparsa_context *ctx, const sparsa_problem *problem,
                                            const sparsa_mask *mask, sparsa_plan **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(ctx);
  SP_CHECK_NULL(problem);
  sparsa_problem norm;
  SP_TRY(sp_problem_normalize(problem, &norm));
  if (mask != NULL) SP_TRY(sp_plan_check_mask(ctx, &norm, mask));

  sparsa_plan *plan = sp_calloc(1, sizeof *plan);
  if (plan == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_plan_create: allocating");
  plan->ctx = ctx;
  sp_context_retain(ctx);
  plan->problem = norm;
  plan->group = norm.q_heads / norm.kv_heads;
  sparsa_status status = SPARSA_OK;

  if (mask != NULL) {
    sp_mask_retain(mask);
    plan->mask = mask;
    plan->num_mask_heads = mask->blocks.num_heads;
    plan->alignment = mask->alignment;
    plan->block_q = mask->blocks.block_q;
    plan->block_kv = mask->blocks.block_kv;
  } else {
    status = sparsa_pattern_create_dense(&plan->dense_pattern);
    if (status != SPARSA_OK) goto fail;
    plan->patterns = (const sparsa_pattern **)&plan->dense_pattern;
    plan->num_mask_heads = 1;
    plan->alignment = SPARSA_ALIGN_BOTTOM_RIGHT;
    plan->block_q = SP_DENSE_BLOCK_Q;
    plan->block_kv = SP_DENSE_BLOCK_KV;
  }

  plan->sequences = sp_calloc((size_t)norm.batch, sizeof *plan->sequences);
  if (plan->sequences == NULL) {
    status = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_plan_create: allocating sequences");
    goto fail;
  }
  if (norm.cu_seqlens_q != NULL) {
    plan->cu_seqlens_q = sp_copy_offsets(norm.cu_seqlens_q, norm.batch);
    plan->cu_seqlens_kv = sp_copy_offsets(norm.cu_seqlens_kv, norm.batch);
    if (plan->cu_seqlens_q == NULL || plan->cu_seqlens_kv == NULL) {
      status = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_plan_create: copying cu_seqlens");
      goto fail;
    }
    /* The copy is what the plan reads from now on; the caller's arrays are
     * not retained. */
    plan->problem.cu_seqlens_q = plan->cu_seqlens_q;
    plan->problem.cu_seqlens_kv = plan->cu_seqlens_kv;
    if (mask != NULL) status = sp_plan_read_mask(plan);
    if (status == SPARSA_OK) status = sp_plan_varlen_lists(plan);
  } else {
    /* Fixed lengths: the sequences and the mask's list (its geometry) are
     * all an engine that plans from its own lists reads. */
    int taken = 0;
    status = sp_plan_fixed_lists(plan);
    if (status == SPARSA_OK) status = sp_plan_engine_held(plan, &taken);
    if (status == SPARSA_OK && taken) {
      *out = plan;
      return SPARSA_OK;
    }
    if (status == SPARSA_OK && mask != NULL) status = sp_plan_read_mask(plan);
  }
  if (status != SPARSA_OK) goto fail;
  plan->num_blocks = sp_plan_count_blocks(plan);

  status = ctx->ops->plan_init(plan);
  if (status != SPARSA_OK) goto fail;
  *out = plan;
  return SPARSA_OK;

fail:
  sp_plan_free(plan);
  return status;
}

SPARSA_API sparsa_status sparsa_plan_workspace_size(const sparsa_plan *plan, size_t *bytes) {
  SP_CHECK_NULL(plan);
  SP_CHECK_NULL(bytes);
  *bytes = plan->workspace_bytes;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_plan_num_blocks(const sparsa_plan *plan, int64_t *out) {
  SP_CHECK_NULL(plan);
  SP_CHECK_NULL(out);
  *out = plan->num_blocks;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_execute(const sparsa_plan *plan, const void *q, const void *k,
                                        const void *v, void *out, float *lse, void *workspace,
                                        size_t workspace_bytes) {
  SP_CHECK_NULL(plan);
  SP_CHECK_NULL(q);
  SP_CHECK_NULL(k);
  SP_CHECK_NULL(v);
  SP_CHECK_NULL(out);
  if (workspace != NULL) {
    if (workspace_bytes < plan->workspace_bytes)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "sparsa_execute: workspace_bytes = %zu: the plan needs %zu", workspace_bytes,
                     plan->workspace_bytes);
    if (((uintptr_t)workspace & 63u) != 0)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "sparsa_execute: workspace %p is not 64-byte aligned", workspace);
  }
  return plan->ctx->ops->execute(plan, q, k, v, out, lse, workspace, workspace_bytes);
}

SPARSA_API void sparsa_plan_destroy(sparsa_plan *plan) {
  if (plan == NULL) return;
  if (plan->engine_plan != NULL && plan->ctx->ops->plan_fini != NULL)
    plan->ctx->ops->plan_fini(plan);
  sp_plan_free(plan);
}
