/* See edge_case.h. */
#include "edge_case.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_setup.h"

static ref_shape edge_shape(const edge_case *c, int64_t *q_len, int64_t *kv_len) {
  *q_len = c->q_len;
  *kv_len = c->kv_len;
  double scale = c->scale != 0.0f ? (double)c->scale : 1.0 / sqrt((double)c->head_dim);
  return (ref_shape){1, c->q_heads, c->kv_heads, c->head_dim, c->head_dim, q_len, kv_len,
                     c->q_len, c->kv_len, scale};
}

void edge_case_alloc(edge_case *c) {
  int64_t ql, kl;
  ref_shape s = edge_shape(c, &ql, &kl);
  c->q = calloc((size_t)ref_q_elems(&s), sizeof(double));
  c->k = calloc((size_t)ref_k_elems(&s), sizeof(double));
  c->v = calloc((size_t)ref_v_elems(&s), sizeof(double));
  if (c->q == NULL || c->k == NULL || c->v == NULL) abort();
}

void edge_case_free(edge_case *c) {
  free(c->q);
  free(c->k);
  free(c->v);
  c->q = c->k = c->v = NULL;
}

int64_t edge_q_index(const edge_case *c, int32_t h, int64_t i, int32_t d) {
  return ((int64_t)h * c->q_len + i) * c->head_dim + d;
}

int64_t edge_kv_index(const edge_case *c, int32_t h, int64_t j, int32_t d) {
  return ((int64_t)h * c->kv_len + j) * c->head_dim + d;
}

/* The rules, from sparsa_pattern.h (bottom-right alignment). */
static int edge_visible(void *user, int32_t batch, int32_t head, int64_t i, int64_t j) {
  const edge_case *c = user;
  (void)batch;
  (void)head;
  int64_t d = i + c->kv_len - c->q_len - j;
  switch (c->rule) {
    case EDGE_DENSE: return 1;
    case EDGE_CAUSAL: return d >= 0;
    case EDGE_LAST_KEY: return d >= 0 && j == c->kv_len - 1;
  }
  return 0;
}

static sparsa_status edge_pattern(const edge_case *c, sparsa_pattern **out) {
  switch (c->rule) {
    case EDGE_DENSE: return sparsa_pattern_create_dense(out);
    case EDGE_CAUSAL: return sparsa_pattern_create_causal(out);
    case EDGE_LAST_KEY: {
      int64_t last = c->kv_len - 1;
      return sparsa_pattern_create_vertical_slash(&last, 1, NULL, 0, out);
    }
  }
  return SPARSA_ERR_INVALID_ARGUMENT;
}

#define EDGE_FAIL(...)                          \
  do {                                          \
    snprintf(why, why_size, __VA_ARGS__);       \
    ok = 0;                                     \
    goto done;                                  \
  } while (0)

int edge_case_run(const edge_case *c, char *why, size_t why_size, double **out_canon,
                  double **lse_canon) {
  int ok = 1;
  int64_t ql, kl;
  ref_shape s = edge_shape(c, &ql, &kl);
  int64_t nq = ref_q_elems(&s), nk = ref_k_elems(&s), no = ref_out_elems(&s), nl = ref_lse_elems(&s);
  sparsa_context *ctx = NULL;
  sparsa_pattern *pat = NULL;
  sparsa_plan *plan = NULL;
  size_t es = c->dtype == SPARSA_DTYPE_F32 ? 4 : 2;
  void *q = malloc((size_t)nq * es), *k = malloc((size_t)nk * es), *v = malloc((size_t)nk * es);
  void *o = malloc((size_t)no * es);
  float *lse = malloc((size_t)nl * sizeof *lse);
  double *truth = malloc((size_t)no * sizeof *truth), *truth_lse = malloc((size_t)nl * sizeof *truth_lse);
  double *naive = malloc((size_t)no * sizeof *naive), *naive_lse = malloc((size_t)nl * sizeof *naive_lse);
  double *got = malloc((size_t)no * sizeof *got), *got_lse = malloc((size_t)nl * sizeof *got_lse);
  if (!q || !k || !v || !o || !lse || !truth || !truth_lse || !naive || !naive_lse || !got || !got_lse)
    abort();
  /* canonical [h][s][d] -> packed BSHD [s][h][d] */
  for (int32_t h = 0; h < c->q_heads; h++)
    for (int64_t i = 0; i < c->q_len; i++)
      for (int32_t d = 0; d < c->head_dim; d++)
        ref_store(c->dtype, q, (i * c->q_heads + h) * c->head_dim + d, c->q[edge_q_index(c, h, i, d)]);
  for (int32_t h = 0; h < c->kv_heads; h++)
    for (int64_t j = 0; j < c->kv_len; j++)
      for (int32_t d = 0; d < c->head_dim; d++) {
        int64_t dst = (j * c->kv_heads + h) * c->head_dim + d, src = edge_kv_index(c, h, j, d);
        ref_store(c->dtype, k, dst, c->k[src]);
        ref_store(c->dtype, v, dst, c->v[src]);
      }

  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx);
  if (st != SPARSA_OK) EDGE_FAIL("context_create: %s", sparsa_last_error());
  st = edge_pattern(c, &pat);
  if (st != SPARSA_OK) EDGE_FAIL("pattern: %s", sparsa_last_error());
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = c->dtype;
  p.batch = 1;
  p.q_heads = c->q_heads;
  p.kv_heads = c->kv_heads;
  p.head_dim = c->head_dim;
  p.q_len = c->q_len;
  p.kv_len = c->kv_len;
  p.scale = c->scale;
  st = test_plan_create(ctx, &p, (test_mask_shape){0}, (const sparsa_pattern *const *)&pat, 1, &plan);
  if (st != SPARSA_OK) EDGE_FAIL("mask and plan: %s", sparsa_last_error());
  st = sparsa_execute(plan, q, k, v, o, lse, NULL, 0);
  if (st != SPARSA_OK) EDGE_FAIL("execute: %s", sparsa_last_error());

  for (int32_t h = 0; h < c->q_heads; h++)
    for (int64_t i = 0; i < c->q_len; i++) {
      for (int32_t d = 0; d < c->head_dim; d++)
        got[edge_q_index(c, h, i, d)] = ref_load(c->dtype, o, (i * c->q_heads + h) * c->head_dim + d);
      got_lse[h * c->q_len + i] = lse[h * c->q_len + i];
    }
  for (int64_t i = 0; i < no; i++)
    if (!isfinite(got[i])) EDGE_FAIL("out[%lld] = %g is not finite", (long long)i, got[i]);

  ref_attention_f64(&s, c->q, c->k, c->v, edge_visible, (void *)c, truth, truth_lse);
  ref_attention_naive(&s, c->dtype, c->q, c->k, c->v, edge_visible, (void *)c, naive, naive_lse);
  ref_error e = ref_compare(got, truth, no), en = ref_compare(naive, truth, no);
  if (!ref_accurate(&e, &en, ref_tolerance_floor(c->dtype)))
    EDGE_FAIL("out: error %.3g at %lld (naive %.3g), %lld mismatches (first %lld)", e.max_abs,
              (long long)e.worst, en.max_abs, (long long)e.mismatches, (long long)e.first_mismatch);
  ref_error el = ref_compare(got_lse, truth_lse, nl), eln = ref_compare(naive_lse, truth_lse, nl);
  /* lse is float32 by contract: at logits of ~10^4 one ulp (2^-23 of the
   * largest |lse|) is what any engine can promise, however lucky the naive
   * computation's rounding was. Below ~100 the floor alone decides. */
  double lse_max = 0.0;
  for (int64_t i = 0; i < nl; i++)
    if (isfinite(truth_lse[i]) && fabs(truth_lse[i]) > lse_max) lse_max = fabs(truth_lse[i]);
  if (!ref_accurate(&el, &eln, ref_lse_tolerance_floor() + lse_max * 0x1p-23))
    EDGE_FAIL("lse: error %.3g at %lld (naive %.3g), %lld mismatches (first %lld: got %g, want %g)",
              el.max_abs, (long long)el.worst, eln.max_abs, (long long)el.mismatches,
              (long long)el.first_mismatch,
              el.first_mismatch >= 0 ? got_lse[el.first_mismatch] : 0.0,
              el.first_mismatch >= 0 ? truth_lse[el.first_mismatch] : 0.0);
done:
  if (ok && out_canon != NULL) {
    *out_canon = got;
    got = NULL;
  }
  if (ok && lse_canon != NULL) {
    *lse_canon = got_lse;
    got_lse = NULL;
  }
  sparsa_plan_destroy(plan);
  sparsa_pattern_destroy(pat);
  sparsa_context_destroy(ctx);
  free(q);
  free(k);
  free(v);
  free(o);
  free(lse);
  free(truth);
  free(truth_lse);
  free(naive);
  free(naive_lse);
  free(got);
  free(got_lse);
  return ok;
}
