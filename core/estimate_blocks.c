/* Block-level estimation: pooled block scores, and turning any row-wise
 * block scores into a block spec (selection plus forced sink and diagonal
 * blocks), a row at a time. */
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

/* One unit of the pooling pass: one query block or one key block of one
 * sequence, for every head. The block means are kept in double so that
 * the scores do not depend on the summation order more than rounding of
 * the final dot products; each mean's sums run over the block's rows in
 * order. */
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
  int64_t rows = sp_pooled_rows(start, end, stride);
  double inv = 1.0 / (double)rows;
  /* Where a token's heads sit side by side (token-major), the block's rows
   * of every head are asked for first, in memory order: each head's pass
   * then strides through lines already on their way instead of missing on
   * each row. Head-major rows of one head follow each other at a constant
   * step, which the hardware prefetchers follow on their own. */
  const int64_t *strides = is_q ? in->prob.q_stride : in->prob.k_stride;
  const int64_t row_bytes = (int64_t)d * sp_est_elem_bytes(in), step = stride * strides[1];
  if (strides[2] < strides[1])
    for (int64_t t = start; t < end; t += stride)
      for (int32_t h = 0; h < heads; h++) {
        const char *row = sp_est_token_row(in, is_q, b, t, h);
        for (int64_t at = 0; at < row_bytes; at += 64) __builtin_prefetch(row + at);
      }
  for (int32_t h = 0; h < heads; h++) {
    double *m = (is_q ? run->qbar : run->kbar) + (((int64_t)b * heads + h) * per + blk) * d;
    const void *first = sp_est_token_row(in, is_q, b, start, h);
    sp_est_sum_rows_f64(in->isa, m, first, step, rows, in->prob.dtype, d);
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

/* ---- block selection, a row at a time ---- */

sparsa_status sp_est_block_rows_begin(const sp_est_input *in, sp_head_spec *spec,
                                      sp_est_block_rows *rows) {
  int64_t nqb = in->num_q_blocks, nkb = in->num_kv_blocks;
  memset(spec, 0, sizeof *spec);
  memset(rows, 0, sizeof *rows);
  rows->spec = spec;
  spec->kind = SPARSA_HEAD_BLOCKS;
  spec->causal = in->est.causal ? 1 : 0;
  spec->block_rows = in->est.block_q;
  spec->block_cols = in->est.block_kv;
  spec->num_rows = nqb;
  spec->row_ptr = sp_malloc(sp_mul_size((size_t)nqb + 1, sizeof *spec->row_ptr));
  rows->scratch = sp_malloc(sp_mul_size((size_t)nkb, sizeof *rows->scratch));
  rows->chosen = sp_malloc(sp_mul_size((size_t)nkb, sizeof *rows->chosen));
  rows->keep = sp_malloc((size_t)nkb);
  /* Worst case every block of every row: grown on demand instead. */
  rows->cap = nkb * 4 + 16;
  spec->col_idx = sp_malloc(sp_mul_size((size_t)rows->cap, sizeof *spec->col_idx));
  if (spec->row_ptr == NULL || rows->scratch == NULL || rows->chosen == NULL ||
      rows->keep == NULL || spec->col_idx == NULL) {
    sp_est_block_rows_end(rows, SPARSA_ERR_OUT_OF_MEMORY);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "estimator: allocating block selection buffers");
  }
  spec->row_ptr[0] = 0;
  return SPARSA_OK;
}

sparsa_status sp_est_block_rows_add(const sp_est_input *in, sp_est_block_rows *rows, int64_t r,
                                    const double *w) {
  sp_head_spec *spec = rows->spec;
  int64_t nkb = in->num_kv_blocks, bq = in->est.block_q, bk = in->est.block_kv;
  int64_t n = sp_est_admissible_blocks(in, r);
  uint8_t *keep = rows->keep;
  memset(keep, 0, (size_t)nkb);
  if (n > 0) {
    sp_est_mark_selected(w, n, in->est.selection, in->est.top_k, in->est.threshold, 0,
                         rows->scratch, rows->chosen, keep);
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
  if (rows->used + row_count > rows->cap) {
    int64_t grown = rows->cap * 2 > rows->used + row_count ? rows->cap * 2 : rows->used + row_count;
    int32_t *p = sp_realloc(spec->col_idx, sp_mul_size((size_t)grown, sizeof *p));
    if (p == NULL)
      return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "estimator: growing the block list to %lld",
                     (long long)grown);
    spec->col_idx = p;
    rows->cap = grown;
  }
  for (int64_t c = 0; c < nkb; c++)
    if (keep[c]) spec->col_idx[rows->used++] = (int32_t)c;
  spec->row_ptr[r + 1] = rows->used;
  return SPARSA_OK;
}

void sp_est_block_rows_end(sp_est_block_rows *rows, sparsa_status st) {
  sp_free(rows->scratch);
  sp_free(rows->chosen);
  sp_free(rows->keep);
  rows->scratch = NULL;
  rows->chosen = NULL;
  rows->keep = NULL;
  if (st != SPARSA_OK) sp_head_spec_free(rows->spec);
}

sparsa_status sp_est_blocks_spec(const sp_est_input *in, const double *w, sp_head_spec *spec) {
  sp_est_block_rows rows;
  sparsa_status st = sp_est_block_rows_begin(in, spec, &rows);
  if (st != SPARSA_OK) return st;
  for (int64_t r = 0; r < in->num_q_blocks && st == SPARSA_OK; r++)
    st = sp_est_block_rows_add(in, &rows, r, w + r * in->num_kv_blocks);
  sp_est_block_rows_end(&rows, st);
  return st;
}

/* ---- pooled block scores ---- */

/* Scratch of one head's pooled estimate: the key block means of every
 * sequence transposed (kt[(b * d + x) * ld + c], ld = key blocks rounded
 * up to SP_EST_POOL_COLS, zeros past them), so that the scores of a few
 * query blocks against all key blocks are a register-tiled product; the
 * scores and weights of those query blocks. */
typedef struct sp_pool_scratch {
  double *kt, *s, *w;
  int64_t ld;
} sp_pool_scratch;

static void sp_pool_scratch_free(sp_pool_scratch *sc) {
  sp_free(sc->kt);
  sp_free(sc->s);
  sp_free(sc->w);
}

/* Softmax of one row of scores over its n admissible key blocks, added
 * into the row's weights with the sequence's weight (1 / batch). */
static void sp_pool_softmax_add(const double *s, int64_t n, double scale, double weight,
                                double *e, double *w) {
  const double z = sp_est_softmax_f64(s, n, scale, e);
  for (int64_t c = 0; c < n; c++) w[c] += weight * e[c] / z;
}

sparsa_status sp_est_pooled_head(const sp_est_input *in, int32_t h, sp_head_spec *spec) {
  const int32_t d = in->prob.head_dim, batch = in->prob.batch;
  const int64_t nqb = in->num_q_blocks, nkb = in->num_kv_blocks;
  sp_pool_scratch sc;
  sc.ld = (nkb + SP_EST_POOL_COLS - 1) / SP_EST_POOL_COLS * SP_EST_POOL_COLS;
  sc.kt = sp_malloc(sp_mul_size(sp_mul_size((size_t)batch * (size_t)d, (size_t)sc.ld),
                                sizeof(double)));
  /* s: the tile's scores, then one row's exponentials (nkb more). */
  sc.s = sp_malloc(sp_mul_size((size_t)(SP_EST_POOL_ROWS * sc.ld + nkb), sizeof(double)));
  sc.w = sp_malloc(sp_mul_size((size_t)(SP_EST_POOL_ROWS * nkb), sizeof(double)));
  if (sc.kt == NULL || sc.s == NULL || sc.w == NULL) {
    sp_pool_scratch_free(&sc);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "pooled estimator: allocating block scores");
  }
  const int32_t kvh = h / in->group;
  for (int32_t b = 0; b < batch; b++) {
    const double *kbar = in->kbar + ((int64_t)b * in->prob.kv_heads + kvh) * nkb * d;
    double *kt = sc.kt + (int64_t)b * d * sc.ld;
    for (int32_t x = 0; x < d; x++) {
      for (int64_t c = 0; c < nkb; c++) kt[x * sc.ld + c] = kbar[c * d + x];
      for (int64_t c = nkb; c < sc.ld; c++) kt[x * sc.ld + c] = 0.0;
    }
  }
  sp_est_block_rows rows;
  sparsa_status st = sp_est_block_rows_begin(in, spec, &rows);
  if (st != SPARSA_OK) {
    sp_pool_scratch_free(&sc);
    return st;
  }
  double *e = sc.s + SP_EST_POOL_ROWS * sc.ld;
  for (int64_t r0 = 0; r0 < nqb && st == SPARSA_OK; r0 += SP_EST_POOL_ROWS) {
    int32_t count = nqb - r0 < SP_EST_POOL_ROWS ? (int32_t)(nqb - r0) : SP_EST_POOL_ROWS;
    /* The tile's last row sees the most key blocks (a prefix for each). */
    int64_t n_max = sp_est_admissible_blocks(in, r0 + count - 1);
    int64_t cols = (n_max + SP_EST_POOL_COLS - 1) / SP_EST_POOL_COLS * SP_EST_POOL_COLS;
    memset(sc.w, 0, (size_t)(count * nkb) * sizeof *sc.w);
    for (int32_t b = 0; b < batch && cols > 0; b++) {
      const double *qbar = in->qbar + (((int64_t)b * in->prob.q_heads + h) * nqb + r0) * d;
      const double *kt = sc.kt + (int64_t)b * d * sc.ld;
      sp_est_pooled_tile(in->isa, qbar, count, d, kt, sc.ld, cols, sc.s);
      for (int32_t i = 0; i < count; i++) {
        int64_t n = sp_est_admissible_blocks(in, r0 + i);
        if (n > 0)
          sp_pool_softmax_add(sc.s + i * sc.ld, n, in->prob.scale, 1.0 / batch, e,
                              sc.w + i * nkb);
      }
    }
    for (int32_t i = 0; i < count && st == SPARSA_OK; i++)
      st = sp_est_block_rows_add(in, &rows, r0 + i, sc.w + i * nkb);
  }
  sp_est_block_rows_end(&rows, st);
  sp_pool_scratch_free(&sc);
  return st;
}
