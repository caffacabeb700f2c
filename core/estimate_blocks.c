/* Block-level estimation: pooled block scores, and turning any row-wise
 * block scores into a block spec (selection plus forced sink and diagonal
 * blocks). */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "estimate.h"

/* The rows a block's mean takes: start, start + stride, ... below end (the
 * estimator's stride; 1 takes every row). */
static int64_t sp_pooled_rows(int64_t start, int64_t end, int32_t stride) {
  return (end - start + stride - 1) / stride;
}

/* Means of consecutive row blocks (of every stride-th row of each), in
 * double so the scores do not depend on the summation order more than
 * rounding of the final dot products. */
static void sp_block_means(const sp_est_input *in, int is_q, int32_t b, int32_t head,
                           int64_t len, int32_t block, int64_t num_blocks, double *means) {
  int32_t d = in->prob.head_dim, stride = in->est.stride;
  for (int64_t blk = 0; blk < num_blocks; blk++) {
    double *m = means + blk * d;
    memset(m, 0, (size_t)d * sizeof *m);
    int64_t start = blk * block, end = start + block < len ? start + block : len;
    for (int64_t t = start; t < end; t += stride) sp_est_add_token(in, is_q, b, t, head, m);
    double inv = 1.0 / (double)sp_pooled_rows(start, end, stride);
    for (int32_t x = 0; x < d; x++) m[x] *= inv;
  }
}

/* One unit of the pooling pass: one query block or one key block of one
 * sequence, for every head at once, so q and k are read in memory order. */
typedef struct sp_pool_run {
  const sp_est_input *in;
  double *qbar, *kbar;
} sp_pool_run;

static sparsa_status sp_pool_unit(void *arg, int32_t unit) {
  const sp_pool_run *run = arg;
  const sp_est_input *in = run->in;
  int32_t d = in->prob.head_dim, batch = in->prob.batch;
  int64_t nqb = in->num_q_blocks, nkb = in->num_kv_blocks;
  int is_q = unit < batch * nqb;
  int64_t u = is_q ? unit : unit - batch * nqb;
  int64_t per = is_q ? nqb : nkb;
  int32_t b = (int32_t)(u / per), heads = is_q ? in->prob.q_heads : in->prob.kv_heads;
  int64_t blk = u % per, block = is_q ? in->est.block_q : in->est.block_kv;
  int64_t len = is_q ? in->prob.q_len : in->prob.kv_len;
  int64_t start = blk * block, end = start + block < len ? start + block : len;
  int32_t stride = in->est.stride;
  double inv = 1.0 / (double)sp_pooled_rows(start, end, stride);
  for (int32_t h = 0; h < heads; h++)
    memset((is_q ? run->qbar : run->kbar) + (((int64_t)b * heads + h) * per + blk) * d, 0,
           (size_t)d * sizeof(double));
  for (int64_t t = start; t < end; t += stride)
    for (int32_t h = 0; h < heads; h++) {
      double *m = (is_q ? run->qbar : run->kbar) + (((int64_t)b * heads + h) * per + blk) * d;
      sp_est_add_token(in, is_q, b, t, h, m);
    }
  for (int32_t h = 0; h < heads; h++) {
    double *m = (is_q ? run->qbar : run->kbar) + (((int64_t)b * heads + h) * per + blk) * d;
    for (int32_t x = 0; x < d; x++) m[x] *= inv;
  }
  return SPARSA_OK;
}

sparsa_status sp_est_pool_all(const sp_est_input *in, sparsa_context *ctx, double **qbar,
                              double **kbar) {
  int32_t d = in->prob.head_dim, batch = in->prob.batch;
  int64_t nq = (int64_t)batch * in->prob.q_heads * in->num_q_blocks;
  int64_t nk = (int64_t)batch * in->prob.kv_heads * in->num_kv_blocks;
  *qbar = sp_malloc(sp_mul_size((size_t)(nq * d), sizeof(double)));
  *kbar = sp_malloc(sp_mul_size((size_t)(nk * d), sizeof(double)));
  int64_t units = (int64_t)batch * (in->num_q_blocks + in->num_kv_blocks);
  if (*qbar == NULL || *kbar == NULL || units > INT32_MAX) {
    sp_free(*qbar);
    sp_free(*kbar);
    *qbar = *kbar = NULL;
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "pooled estimator: allocating block means");
  }
  sp_pool_run run = {in, *qbar, *kbar};
  sparsa_status st = sp_for_each_head(ctx, (int32_t)units, sp_pool_unit, &run);
  if (st != SPARSA_OK) {
    sp_free(*qbar);
    sp_free(*kbar);
    *qbar = *kbar = NULL;
  }
  return st;
}

sparsa_status sp_est_pooled_scores(const sp_est_input *in, int32_t b, int32_t h, double weight,
                                   double *w) {
  int32_t d = in->prob.head_dim;
  int64_t nqb = in->num_q_blocks, nkb = in->num_kv_blocks;
  const double *qbar, *kbar;
  double *own_q = NULL, *own_k = NULL;
  double *s = sp_malloc(sp_mul_size((size_t)nkb, sizeof *s));
  if (in->qbar == NULL) { /* this head's block means, computed here */
    own_q = sp_malloc(sp_mul_size((size_t)(nqb * d), sizeof *own_q));
    own_k = sp_malloc(sp_mul_size((size_t)(nkb * d), sizeof *own_k));
  }
  if (s == NULL || (in->qbar == NULL && (own_q == NULL || own_k == NULL))) {
    sp_free(own_q);
    sp_free(own_k);
    sp_free(s);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "pooled estimator: allocating block means");
  }
  if (in->qbar != NULL) {
    qbar = in->qbar + ((int64_t)b * in->prob.q_heads + h) * nqb * d;
    kbar = in->kbar + ((int64_t)b * in->prob.kv_heads + h / in->group) * nkb * d;
  } else {
    sp_block_means(in, 1, b, h, in->prob.q_len, in->est.block_q, nqb, own_q);
    sp_block_means(in, 0, b, h / in->group, in->prob.kv_len, in->est.block_kv, nkb, own_k);
    qbar = own_q;
    kbar = own_k;
  }
  double scale = in->prob.scale;
  for (int64_t r = 0; r < nqb; r++) {
    int64_t n = sp_est_admissible_blocks(in, r);
    if (n == 0) continue;
    double mx = -INFINITY;
    for (int64_t c = 0; c < n; c++) {
      s[c] = scale * sp_est_dot_f64(qbar + r * d, kbar + c * d, d);
      if (s[c] > mx) mx = s[c];
    }
    double z = 0.0;
    for (int64_t c = 0; c < n; c++) {
      s[c] = exp(s[c] - mx);
      z += s[c];
    }
    for (int64_t c = 0; c < n; c++) w[r * nkb + c] += weight * s[c] / z;
  }
  sp_free(own_q);
  sp_free(own_k);
  sp_free(s);
  return SPARSA_OK;
}

sparsa_status sp_est_blocks_spec(const sp_est_input *in, const double *w, sp_head_spec *spec) {
  int64_t nqb = in->num_q_blocks, nkb = in->num_kv_blocks;
  int32_t bq = in->est.block_q, bk = in->est.block_kv;
  memset(spec, 0, sizeof *spec);
  spec->kind = SPARSA_HEAD_BLOCKS;
  spec->causal = in->est.causal ? 1 : 0;
  spec->block_rows = bq;
  spec->block_cols = bk;
  spec->num_rows = nqb;
  spec->row_ptr = sp_malloc(sp_mul_size((size_t)nqb + 1, sizeof *spec->row_ptr));
  sp_scored *scratch = sp_malloc(sp_mul_size((size_t)nkb, sizeof *scratch));
  int64_t *chosen = sp_malloc(sp_mul_size((size_t)nkb, sizeof *chosen));
  uint8_t *keep = sp_malloc((size_t)nkb);
  /* Worst case every block of every row: grown on demand instead. */
  int64_t cap = nkb * 4 + 16, used = 0;
  spec->col_idx = sp_malloc(sp_mul_size((size_t)cap, sizeof *spec->col_idx));
  sparsa_status st = SPARSA_OK;
  if (spec->row_ptr == NULL || scratch == NULL || chosen == NULL || keep == NULL ||
      spec->col_idx == NULL) {
    st = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "estimator: allocating block selection buffers");
    goto done;
  }
  spec->row_ptr[0] = 0;
  for (int64_t r = 0; r < nqb; r++) {
    int64_t n = sp_est_admissible_blocks(in, r);
    memset(keep, 0, (size_t)nkb);
    if (n > 0) {
      int64_t count = sp_est_select(w + r * nkb, n, in->est.selection, in->est.top_k,
                                    in->est.threshold, scratch, chosen);
      for (int64_t e = 0; e < count; e++) keep[chosen[e]] = 1;
      int64_t sinks = in->est.keep_sink_blocks < n ? in->est.keep_sink_blocks : n;
      for (int64_t c = 0; c < sinks; c++) keep[c] = 1;
      if (in->est.keep_diagonal) {
        int64_t first = r * bq + in->off, last = sp_est_last_pos(in, r);
        if (first < 0) first = 0;
        if (last > in->prob.kv_len - 1) last = in->prob.kv_len - 1;
        if (first <= last)
          for (int64_t c = first / bk; c <= last / bk; c++) keep[c] = 1;
      }
    }
    int64_t row_count = 0;
    for (int64_t c = 0; c < nkb; c++) row_count += keep[c];
    if (used + row_count > cap) {
      int64_t grown = cap * 2 > used + row_count ? cap * 2 : used + row_count;
      int32_t *p = sp_realloc(spec->col_idx, sp_mul_size((size_t)grown, sizeof *p));
      if (p == NULL) {
        st = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "estimator: growing the block list to %lld",
                     (long long)grown);
        goto done;
      }
      spec->col_idx = p;
      cap = grown;
    }
    for (int64_t c = 0; c < nkb; c++)
      if (keep[c]) spec->col_idx[used++] = (int32_t)c;
    spec->row_ptr[r + 1] = used;
  }
done:
  sp_free(scratch);
  sp_free(chosen);
  sp_free(keep);
  if (st != SPARSA_OK) sp_head_spec_free(spec);
  return st;
}
