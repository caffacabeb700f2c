/* sparsa_mask_estimate(): validation, input plumbing shared by the methods,
 * and the per-head driver (heads spread over the context's threads). */
#include "estimate.h"

#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "context.h"
#include "cpu/cpu_engine.h"
#include "error.h"
#include "mask.h"
#include "pattern_internal.h"
#include "problem.h"

#define SP_ESTIMATOR_MIN_SIZE ((uint32_t)sizeof(sparsa_estimator))

SPARSA_API sparsa_status sparsa_estimator_init(sparsa_estimator *est,
                                               sparsa_estimator_method method) {
  SP_CHECK_NULL(est);
  if ((int)method < SPARSA_ESTIMATOR_POOLED_BLOCKS || (int)method > SPARSA_ESTIMATOR_VERTICAL_SLASH)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "sparsa_estimator_init: method = %d is unknown",
                   (int)method);
  memset(est, 0, sizeof *est);
  est->struct_size = (uint32_t)sizeof *est;
  est->method = method;
  est->block_q = 64;
  est->block_kv = 64;
  est->selection = SPARSA_SELECT_THRESHOLD;
  est->top_k = 8;
  est->threshold = 0.95f;
  est->stride = method == SPARSA_ESTIMATOR_POOLED_BLOCKS ? 1 : 8;
  est->last_q = 64;
  est->keep_sink_blocks = 1;
  est->keep_diagonal = 1;
  est->causal = 1;
  return SPARSA_OK;
}

static int sp_is_pow2_in(int32_t v, int32_t lo, int32_t hi) {
  return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

sparsa_status sp_estimator_check(const sparsa_estimator *e) {
  if ((int)e->method < 0 || (int)e->method > SPARSA_ESTIMATOR_VERTICAL_SLASH)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "estimator.method = %d is unknown", (int)e->method);
  if (!sp_is_pow2_in(e->block_q, 16, 256))
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "estimator.block_q = %d: must be a power of two in 16..256", (int)e->block_q);
  if (!sp_is_pow2_in(e->block_kv, 16, 256))
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "estimator.block_kv = %d: must be a power of two in 16..256", (int)e->block_kv);
  if (e->selection != SPARSA_SELECT_TOP_K && e->selection != SPARSA_SELECT_THRESHOLD)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "estimator.selection = %d is unknown",
                   (int)e->selection);
  if (e->selection == SPARSA_SELECT_TOP_K && e->top_k < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "estimator.top_k = %d: must be >= 1", (int)e->top_k);
  if (e->selection == SPARSA_SELECT_THRESHOLD && !(e->threshold > 0.0f && e->threshold <= 1.0f))
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "estimator.threshold = %g: must be in (0, 1]",
                   (double)e->threshold);
  if (e->method != SPARSA_ESTIMATOR_VERTICAL_SLASH &&
      (!sp_is_pow2_in(e->stride, 1, 256) || e->block_q % e->stride || e->block_kv % e->stride))
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "estimator.stride = %d: must be a power of two dividing block_q = %d and "
                   "block_kv = %d",
                   (int)e->stride, (int)e->block_q, (int)e->block_kv);
  if (e->method == SPARSA_ESTIMATOR_VERTICAL_SLASH && e->last_q < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "estimator.last_q = %d: must be >= 1",
                   (int)e->last_q);
  if (e->method == SPARSA_ESTIMATOR_VERTICAL_SLASH && !e->causal)
    return sp_fail(SPARSA_ERR_UNSUPPORTED,
                   "estimator: vertical-slash patterns are causal; set estimator.causal");
  if (e->keep_sink_blocks < 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "estimator.keep_sink_blocks = %d: must be >= 0",
                   (int)e->keep_sink_blocks);
  return SPARSA_OK;
}

sparsa_status sp_estimator_normalize(const sparsa_estimator *est, sparsa_estimator *norm) {
  SP_CHECK_NULL(est);
  if (est->struct_size < SP_ESTIMATOR_MIN_SIZE)
    return sp_fail(SPARSA_ERR_VERSION, "estimator.struct_size = %u: must be at least %u",
                   (unsigned)est->struct_size, (unsigned)SP_ESTIMATOR_MIN_SIZE);
  memcpy(norm, est, sizeof *norm);
  norm->struct_size = (uint32_t)sizeof *norm;
  /* A pooled estimator's stride was ignored before it set the means' row
   * step: a struct filled by hand with 0 there still means every row. */
  if (norm->method == SPARSA_ESTIMATOR_POOLED_BLOCKS && norm->stride == 0) norm->stride = 1;
  return sp_estimator_check(norm);
}

sparsa_status sp_est_input_init(sp_est_input *in, const sparsa_context *ctx,
                                const sparsa_estimator *est, const sparsa_problem *problem,
                                const void *q, const void *k) {
  SP_CHECK_NULL(est);
  SP_CHECK_NULL(problem);
  SP_CHECK_NULL(q);
  SP_CHECK_NULL(k);
  memset(in, 0, sizeof *in);
  SP_TRY(sp_estimator_normalize(est, &in->est));
  SP_TRY(sp_problem_normalize(problem, &in->prob));
  if (in->prob.cu_seqlens_q != NULL || in->prob.cu_seqlens_kv != NULL)
    return sp_fail(SPARSA_ERR_UNSUPPORTED,
                   "estimators need fixed lengths: problem.cu_seqlens must be NULL");
  in->q = q;
  in->k = k;
  in->off = in->prob.kv_len - in->prob.q_len;
  in->group = in->prob.q_heads / in->prob.kv_heads;
  in->num_q_blocks = (in->prob.q_len + in->est.block_q - 1) / in->est.block_q;
  in->num_kv_blocks = (in->prob.kv_len + in->est.block_kv - 1) / in->est.block_kv;
  in->isa = ctx->engine == SPARSA_ENGINE_CPU ? ((const sp_cpu_context *)ctx->engine_state)->isa
                                              : sp_cpu_isa_best();
  return SPARSA_OK;
}

int64_t sp_est_elem_bytes(const sp_est_input *in) {
  return in->prob.dtype == SPARSA_DTYPE_F32 ? (int64_t)sizeof(float) : (int64_t)sizeof(uint16_t);
}

const void *sp_est_token_row(const sp_est_input *in, int is_q, int32_t b, int64_t t, int32_t h) {
  const int64_t *s = is_q ? in->prob.q_stride : in->prob.k_stride;
  const int64_t at = b * s[0] + t * s[1] + h * s[2];
  return (const char *)(is_q ? in->q : in->k) + at * sp_est_elem_bytes(in);
}

void sp_est_load_q(const sp_est_input *in, int32_t b, int64_t i, int32_t h, float *dst) {
  sp_est_widen_row(dst, sp_est_token_row(in, 1, b, i, h), in->prob.dtype, in->prob.head_dim);
}

void sp_est_load_k(const sp_est_input *in, int32_t b, int64_t j, int32_t kvh, float *dst) {
  sp_est_widen_row(dst, sp_est_token_row(in, 0, b, j, kvh), in->prob.dtype, in->prob.head_dim);
}

int64_t sp_est_last_pos(const sp_est_input *in, int64_t r) {
  int64_t end = (r + 1) * in->est.block_q;
  if (end > in->prob.q_len) end = in->prob.q_len;
  return end - 1 + in->off;
}

int64_t sp_est_admissible_blocks(const sp_est_input *in, int64_t r) {
  if (!in->est.causal) return in->num_kv_blocks;
  int64_t last = sp_est_last_pos(in, r);
  if (last < 0) return 0;
  int64_t n = last / in->est.block_kv + 1;
  return n < in->num_kv_blocks ? n : in->num_kv_blocks;
}

/* ---- heads over threads ---- */

/* Participants take the next head from one atomic counter until none is
 * left (heads differ in cost: causal rows, GQA groups), and stop early once
 * one has failed. Messages are thread-local, so a failing participant
 * copies its own into the run. */
typedef struct sp_head_run {
  sp_head_fn fn;
  void *arg;
  int32_t heads;
  atomic_int next;
  atomic_int failed;
  pthread_mutex_t lock; /* guards status and message */
  sparsa_status status;
  char message[256];
} sp_head_run;

static void sp_head_task(void *p, int32_t thread_index) {
  (void)thread_index;
  sp_head_run *run = p;
  while (!atomic_load(&run->failed)) {
    int32_t h = atomic_fetch_add(&run->next, 1);
    if (h >= run->heads) return;
    sparsa_status st = run->fn(run->arg, h);
    if (st != SPARSA_OK) {
      pthread_mutex_lock(&run->lock);
      if (run->status == SPARSA_OK) {
        run->status = st;
        snprintf(run->message, sizeof run->message, "%s", sparsa_last_error());
      }
      pthread_mutex_unlock(&run->lock);
      atomic_store(&run->failed, 1);
      return;
    }
  }
}

sparsa_status sp_for_each_head(sparsa_context *ctx, int32_t heads, sp_head_fn fn, void *arg) {
  sp_head_run run = {.fn = fn, .arg = arg, .heads = heads, .status = SPARSA_OK};
  atomic_init(&run.next, 0);
  atomic_init(&run.failed, 0);
  if (pthread_mutex_init(&run.lock, NULL) != 0)
    return sp_fail(SPARSA_ERR_INTERNAL, "estimator: initializing a mutex");
  const sp_cpu_context *cpu = ctx->engine == SPARSA_ENGINE_CPU ? ctx->engine_state : NULL;
  int32_t threads = ctx->num_threads < heads ? ctx->num_threads : heads;
  if (cpu != NULL && cpu->pool != NULL && threads > 1)
    sp_thread_pool_run(cpu->pool, threads, sp_head_task, &run);
  else
    sp_head_task(&run, 0);
  pthread_mutex_destroy(&run.lock);
  if (run.status != SPARSA_OK) {
    sp_set_error_text(run.message);
    return run.status;
  }
  return SPARSA_OK;
}

/* ---- the estimator driver ---- */

static size_t sp_est_buffer_cells(const sp_est_input *in) {
  if (in->est.method == SPARSA_ESTIMATOR_VERTICAL_SLASH) return (size_t)(2 * in->prob.kv_len);
  return (size_t)(in->num_q_blocks * in->num_kv_blocks);
}

typedef struct sp_est_run {
  const sp_est_input *in;
  sp_head_spec *specs;
} sp_est_run;

static sparsa_status sp_estimate_head(void *arg, int32_t h) {
  const sp_est_run *run = arg;
  const sp_est_input *in = run->in;
  if (in->est.method == SPARSA_ESTIMATOR_POOLED_BLOCKS)
    return sp_est_pooled_head(in, h, &run->specs[h]);
  size_t cells = sp_est_buffer_cells(in);
  double *buf = sp_calloc(cells, sizeof *buf);
  if (buf == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "estimator: allocating score buffers");
  int32_t batch = in->prob.batch;
  double weight = 1.0 / batch;
  sparsa_status st = SPARSA_OK;
  if (in->est.method == SPARSA_ESTIMATOR_VERTICAL_SLASH) {
    int64_t n = in->prob.kv_len;
    for (int32_t b = 0; b < batch && st == SPARSA_OK; b++)
      st = sp_est_vslash_mass(in, b, h, weight, buf, buf + n);
    if (st == SPARSA_OK) st = sp_est_vslash_spec(in, buf, buf + n, &run->specs[h]);
  } else {
    for (int32_t b = 0; b < batch && st == SPARSA_OK; b++)
      st = sp_est_antidiag_scores(in, b, h, weight, buf);
    if (st == SPARSA_OK) st = sp_est_blocks_spec(in, buf, &run->specs[h]);
  }
  sp_free(buf);
  return st;
}

sparsa_status sp_estimate_specs(const sp_est_input *in, sparsa_context *ctx, sp_head_spec **out) {
  *out = NULL;
  int32_t heads = in->prob.q_heads;
  sp_head_spec *specs = sp_calloc((size_t)heads, sizeof *specs);
  if (specs == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "estimator: allocating %d head specs", (int)heads);
  sp_est_input pooled = *in;
  double *qbar = NULL, *kbar = NULL;
  sparsa_status st = SPARSA_OK;
  if (in->est.method == SPARSA_ESTIMATOR_POOLED_BLOCKS) {
    st = sp_est_pool_all(in, ctx, &qbar, &kbar);
    pooled.qbar = qbar;
    pooled.kbar = kbar;
  }
  sp_est_run run = {&pooled, specs};
  if (st == SPARSA_OK) st = sp_for_each_head(ctx, heads, sp_estimate_head, &run);
  sp_free(qbar);
  sp_free(kbar);
  if (st != SPARSA_OK) {
    for (int32_t h = 0; h < heads; h++) sp_head_spec_free(&specs[h]);
    sp_free(specs);
    return st;
  }
  *out = specs;
  return SPARSA_OK;
}

sparsa_status sp_estimate_specs_on(sparsa_context *ctx, const sp_est_input *in,
                                   sp_head_spec **out) {
  *out = NULL;
  if (ctx->engine == SPARSA_ENGINE_CPU) return sp_estimate_specs(in, ctx, out);
  const sp_engine_ops *ops = ctx->ops;
  if (ops->struct_size < offsetof(sp_engine_ops, estimate_specs) + sizeof ops->estimate_specs ||
      ops->estimate_specs == NULL)
    return sp_fail(SPARSA_ERR_UNSUPPORTED, "estimator: the %s engine does not estimate masks",
                   ops->name);
  int32_t heads = in->prob.q_heads;
  sp_head_spec *specs = sp_calloc((size_t)heads, sizeof *specs);
  if (specs == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "estimator: allocating %d head specs", (int)heads);
  sparsa_status st = ops->estimate_specs(ctx, in, specs);
  if (st != SPARSA_OK) {
    for (int32_t h = 0; h < heads; h++) sp_head_spec_free(&specs[h]);
    sp_free(specs);
    return st;
  }
  *out = specs;
  return SPARSA_OK;
}

/* A block method on an engine that estimates into block lists: the mask
 * is made from them, with no specs and no patterns, its host lists read
 * only when asked for (mask_lists.c). */
static int sp_engine_estimates_lists(const sparsa_context *ctx, const sp_est_input *in) {
  const sp_engine_ops *ops = ctx->ops;
  return ctx->engine != SPARSA_ENGINE_CPU && in->est.method != SPARSA_ESTIMATOR_VERTICAL_SLASH &&
         ops->struct_size >= offsetof(sp_engine_ops, estimate_lists) + sizeof ops->estimate_lists &&
         ops->estimate_lists != NULL;
}

static sparsa_status sp_estimate_lists_mask(sparsa_context *ctx, const sp_est_input *in,
                                            sparsa_mask **out) {
  sp_mask_lists_desc d = {in->prob.q_heads, in->prob.q_len, in->prob.kv_len,
                          in->est.block_q,  in->est.block_kv, in->est.causal != 0};
  sparsa_mask *m = NULL;
  SP_TRY(sp_mask_lists_begin(ctx, &d, &m));
  sp_block_csr lists = {NULL, NULL, NULL};
  sparsa_status st = ctx->ops->estimate_lists(ctx, in, m, &lists);
  if (st == SPARSA_OK) {
    sp_mask_lists_hold(m, &lists); /* the host block lists: when asked for */
  } else {
    sp_free(lists.row_ptr);
    sp_free(lists.col);
    sp_free(lists.full);
  }
  if (st != SPARSA_OK) {
    sp_mask_release(m);
    return st;
  }
  *out = m;
  return SPARSA_OK;
}

/* Vertical-slash on an engine that can make the mask's lists itself: the
 * mask holds them and the specs (its patterns made from those on first
 * request); where the engine leaves the mask to the core, it is made from
 * the specs as on any other engine. */
static int sp_engine_estimates_vslash(const sparsa_context *ctx, const sp_est_input *in) {
  const sp_engine_ops *ops = ctx->ops;
  return ctx->engine != SPARSA_ENGINE_CPU && in->est.method == SPARSA_ESTIMATOR_VERTICAL_SLASH &&
         ops->struct_size >= offsetof(sp_engine_ops, estimate_vslash) + sizeof ops->estimate_vslash &&
         ops->estimate_vslash != NULL;
}

/* Whether the engine reads back the specs it keeps (mask_read_specs). */
static int sp_engine_reads_specs(const sparsa_context *ctx) {
  const sp_engine_ops *ops = ctx->ops;
  return ops->struct_size >= offsetof(sp_engine_ops, mask_read_specs) + sizeof ops->mask_read_specs &&
         ops->mask_read_specs != NULL;
}

static sparsa_status sp_estimate_vslash_mask(sparsa_context *ctx, const sp_est_input *in,
                                             sparsa_mask **out) {
  const int32_t heads = in->prob.q_heads;
  sp_mask_lists_desc d = {heads,           in->prob.q_len,   in->prob.kv_len,
                          in->est.block_q, in->est.block_kv, 1};
  sparsa_mask *m = NULL;
  SP_TRY(sp_mask_lists_begin(ctx, &d, &m));
  sp_head_spec *specs = sp_calloc((size_t)heads, sizeof *specs);
  if (specs == NULL) {
    sp_mask_release(m);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "estimator: allocating %d head specs", (int)heads);
  }
  int done = 0;
  sparsa_status st = ctx->ops->estimate_vslash(ctx, in, m, specs, &done);
  if (st == SPARSA_OK && done == 2 && sp_engine_reads_specs(ctx)) {
    /* The specs stay on the engine's side until the patterns are asked
     * for: a plan on the mask's lists and its engine's maps needs
     * neither (at threshold 0.9, N = 16384, 32 heads, ~4 MB of columns
     * and offsets otherwise copied and written by the host). */
    sp_block_csr kept = {NULL, NULL, NULL};
    sp_mask_lists_hold(m, &kept);
    m->specs_on_engine = 1;
    for (int32_t h = 0; h < heads; h++) sp_head_spec_free(&specs[h]);
    sp_free(specs);
    *out = m;
    return SPARSA_OK;
  }
  if (st == SPARSA_OK && done == 1) {
    sp_block_csr kept = {NULL, NULL, NULL}; /* the engine keeps them */
    sp_mask_lists_hold(m, &kept);
    sp_mask_specs_hold(m, specs); /* freed with the mask */
    /* The patterns now, taking the specs' arrays: a plan needs them, and
     * deriving them then copied every column and offset into fresh memory
     * (~4 MB at threshold 0.9: 2-3 ms of page faults a plan on an H100
     * host). Where that fails, the specs stay whole and the patterns are
     * derived from them on first request. */
    const sparsa_pattern **patterns = NULL;
    if (sp_vslash_patterns_take(specs, heads, &patterns) == SPARSA_OK)
      sp_mask_patterns_hold(m, patterns);
    *out = m;
    return SPARSA_OK;
  }
  if (st == SPARSA_OK && done != 0)
    st = sp_fail(SPARSA_ERR_INTERNAL, "estimator: the %s engine made a mask it cannot read back",
                 ctx->ops->name);
  sp_mask_release(m);
  if (st == SPARSA_OK)
    st = sp_specs_create_mask(ctx, specs, heads, in->prob.q_len, in->prob.kv_len, in->est.block_q,
                              in->est.block_kv, out);
  for (int32_t h = 0; h < heads; h++) sp_head_spec_free(&specs[h]);
  sp_free(specs);
  return st;
}

SPARSA_API sparsa_status sparsa_mask_estimate(sparsa_context *ctx, const sparsa_estimator *est,
                                              const sparsa_problem *problem, const void *q,
                                              const void *k, sparsa_mask **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(ctx);
  sp_est_input in;
  SP_TRY(sp_est_input_init(&in, ctx, est, problem, q, k));
  if (sp_engine_estimates_lists(ctx, &in)) return sp_estimate_lists_mask(ctx, &in, out);
  if (sp_engine_estimates_vslash(ctx, &in)) return sp_estimate_vslash_mask(ctx, &in, out);
  sp_head_spec *specs = NULL;
  SP_TRY(sp_estimate_specs_on(ctx, &in, &specs));
  sparsa_status st = sp_specs_create_mask(ctx, specs, in.prob.q_heads, in.prob.q_len,
                                          in.prob.kv_len, in.est.block_q, in.est.block_kv, out);
  for (int32_t h = 0; h < in.prob.q_heads; h++) sp_head_spec_free(&specs[h]);
  sp_free(specs);
  return st;
}
