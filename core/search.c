/* Offline per-head pattern search (MInference's offline search, MoA's
 * per-head rules): exact attention of evaluated calibration rows, the
 * captured mass of every candidate pattern, and the cheapest candidate that
 * reaches the target. Cost is the block density of the candidate's mask, so
 * "cheapest" is what the engine will actually compute. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "context.h"
#include "error.h"
#include "estimate.h"
#include "estimate_mass.h"

SPARSA_API sparsa_status sparsa_search_options_init(sparsa_search_options *opts) {
  SP_CHECK_NULL(opts);
  memset(opts, 0, sizeof *opts);
  opts->struct_size = (uint32_t)sizeof *opts;
  opts->target_mass = 0.95f;
  opts->block_q = 64;
  opts->block_kv = 64;
  opts->causal = 1;
  opts->rows_per_block = 16;
  opts->allow = 0;
  return SPARSA_OK;
}

#define SP_MAX_SINKS 3

typedef struct sp_search_run {
  sparsa_context *ctx;
  const sp_est_input *in;
  double target;
  int32_t allow;
  const int64_t *rows;     /* evaluated query rows */
  int64_t num_rows;
  int64_t sinks[SP_MAX_SINKS];
  int32_t num_sinks;
  int64_t *windows;
  int32_t num_windows;
  sp_head_spec *specs;
} sp_search_run;

/* Scratch of one head's search. */
typedef struct sp_search_buf {
  float *keys, *qrow;
  double *p, *prefix, *col, *diag, *blocks, *sw_mass, *hist;
  int64_t *rank_col, *rank_diag;
  sp_scored *order;
} sp_search_buf;

static void sp_search_buf_free(sp_search_buf *b) {
  sp_aligned_free(b->keys);
  sp_free(b->qrow);
  sp_free(b->p);
  sp_free(b->prefix);
  sp_free(b->col);
  sp_free(b->diag);
  sp_free(b->blocks);
  sp_free(b->sw_mass);
  sp_free(b->hist);
  sp_free(b->rank_col);
  sp_free(b->rank_diag);
  sp_free(b->order);
}

static int sp_allowed(const sp_search_run *run, sparsa_head_kind kind) {
  return run->allow == 0 || (run->allow & (1 << kind)) != 0;
}

/* Softmax of row i of head h against the loaded keys; returns the number of
 * visible keys (0: the row sees nothing and is not evaluated). */
static int64_t sp_row_probs(const sp_search_run *run, const sp_search_buf *buf, int32_t b,
                            int32_t h, int64_t i) {
  const sp_est_input *in = run->in;
  int32_t d = in->prob.head_dim;
  int64_t vis = in->prob.kv_len;
  if (in->est.causal) {
    int64_t pos = i + in->off;
    if (pos < 0) return 0;
    if (pos + 1 < vis) vis = pos + 1;
  }
  sp_est_load_q(in, b, i, h, buf->qrow);
  double mx = -INFINITY, z = 0.0;
  for (int64_t j = 0; j < vis; j++) {
    buf->p[j] = in->prob.scale * (double)sp_est_dot(buf->qrow, buf->keys + j * d, d);
    if (buf->p[j] > mx) mx = buf->p[j];
  }
  for (int64_t j = 0; j < vis; j++) {
    buf->p[j] = exp(buf->p[j] - mx);
    z += buf->p[j];
  }
  for (int64_t j = 0; j < vis; j++) buf->p[j] /= z;
  return vis;
}

static void sp_load_keys(const sp_search_run *run, const sp_search_buf *buf, int32_t b, int32_t h) {
  const sp_est_input *in = run->in;
  for (int64_t j = 0; j < in->prob.kv_len; j++)
    sp_est_load_k(in, b, j, h / in->group, buf->keys + j * in->prob.head_dim);
}

/* Block density of a one-head mask of the spec at the calibration lengths. */
static sparsa_status sp_spec_density(const sp_search_run *run, const sp_head_spec *spec,
                                     double *density) {
  sparsa_mask *mask = NULL;
  const sp_est_input *in = run->in;
  SP_TRY(sp_specs_create_mask(run->ctx, spec, 1, in->prob.q_len, in->prob.kv_len, in->est.block_q,
                              in->est.block_kv, &mask));
  sparsa_status st = sparsa_mask_density(mask, 0, density);
  sparsa_mask_destroy(mask);
  return st;
}

/* Keep `cand` if it is cheaper than *best (which it replaces and frees). */
static sparsa_status sp_offer(const sp_search_run *run, sp_head_spec *cand, sp_head_spec *best,
                              int *have_best) {
  sparsa_status st = sp_spec_density(run, cand, &cand->density);
  if (st != SPARSA_OK) {
    sp_head_spec_free(cand);
    return st;
  }
  if (!*have_best || cand->density < best->density) {
    if (*have_best) sp_head_spec_free(best);
    *best = *cand;
    *have_best = 1;
  } else {
    sp_head_spec_free(cand);
  }
  return SPARSA_OK;
}

/* Larger mass first (order keys: a total order even with NaN masses),
 * then the smaller index. */
static int sp_scored_desc(const void *pa, const void *pb) {
  const sp_scored *a = pa, *b = pb;
  const uint64_t ka = sp_order_key(a->w), kb = sp_order_key(b->w);
  if (ka != kb) return ka > kb ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

/* Vertical-slash candidate: columns and diagonals merged in one order of
 * decreasing mass; the exact union mass of every prefix of that order comes
 * from one more pass (each visible key counts at the first rank that
 * covers it); the shortest prefix reaching the target wins. */
static sparsa_status sp_vslash_candidate(const sp_search_run *run, sp_search_buf *buf, int32_t h,
                                         double total_rows, sp_head_spec *out, int *found) {
  const sp_est_input *in = run->in;
  int64_t n = in->prob.kv_len;
  *found = 0;
  /* order holds columns as index j and diagonals as n + d. */
  int64_t m = 0;
  for (int64_t j = 0; j < n; j++)
    if (buf->col[j] > 0) buf->order[m++] = (sp_scored){buf->col[j], j};
  for (int64_t d = 0; d < n; d++)
    if (buf->diag[d] > 0) buf->order[m++] = (sp_scored){buf->diag[d], n + d};
  qsort(buf->order, (size_t)m, sizeof *buf->order, sp_scored_desc);
  for (int64_t j = 0; j < n; j++) buf->rank_col[j] = buf->rank_diag[j] = INT64_MAX;
  for (int64_t r = 0; r < m; r++) {
    int64_t idx = buf->order[r].index;
    if (idx < n)
      buf->rank_col[idx] = r;
    else
      buf->rank_diag[idx - n] = r;
  }
  memset(buf->hist, 0, (size_t)(m + 1) * sizeof *buf->hist);
  for (int32_t b = 0; b < in->prob.batch; b++) {
    sp_load_keys(run, buf, b, h);
    for (int64_t e = 0; e < run->num_rows; e++) {
      int64_t i = run->rows[e], vis = sp_row_probs(run, buf, b, h, i);
      int64_t pos = i + in->off;
      for (int64_t j = 0; j < vis; j++) {
        int64_t rc = buf->rank_col[j], rd = buf->rank_diag[pos - j];
        int64_t rk = rc < rd ? rc : rd;
        if (rk != INT64_MAX) buf->hist[rk] += buf->p[j];
      }
    }
  }
  double cum = 0.0;
  int64_t take = -1;
  for (int64_t r = 0; r < m; r++) {
    cum += buf->hist[r];
    if (cum / total_rows >= run->target) {
      take = r + 1;
      break;
    }
  }
  if (take < 0) return SPARSA_OK;
  memset(out, 0, sizeof *out);
  out->kind = SPARSA_HEAD_VERTICAL_SLASH;
  out->causal = 1;
  out->mass = cum / total_rows;
  int64_t nc = 0, nd = 0;
  for (int64_t r = 0; r < take; r++) {
    if (buf->order[r].index < n)
      nc++;
    else
      nd++;
  }
  out->columns = nc ? sp_malloc((size_t)nc * sizeof *out->columns) : NULL;
  out->offsets = nd ? sp_malloc((size_t)nd * sizeof *out->offsets) : NULL;
  if ((nc && out->columns == NULL) || (nd && out->offsets == NULL)) {
    sp_head_spec_free(out);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "pattern search: vertical-slash lists");
  }
  /* Ascending order keeps files canonical. */
  for (int64_t j = 0; j < n; j++)
    if (buf->rank_col[j] < take) out->columns[out->num_columns++] = j;
  for (int64_t d = 0; d < n; d++)
    if (buf->rank_diag[d] < take) out->offsets[out->num_offsets++] = d;
  *found = 1;
  return SPARSA_OK;
}

/* Block candidate: per query block, the key blocks of highest mass until
 * the block row reaches the target of its own mass. */
static sparsa_status sp_blocks_candidate(const sp_search_run *run, sp_search_buf *buf,
                                         double total_rows, sp_head_spec *out) {
  const sp_est_input *in = run->in;
  int64_t nqb = in->num_q_blocks, nkb = in->num_kv_blocks;
  memset(out, 0, sizeof *out);
  out->kind = SPARSA_HEAD_BLOCKS;
  out->causal = in->est.causal ? 1 : 0;
  out->block_rows = in->est.block_q;
  out->block_cols = in->est.block_kv;
  out->num_rows = nqb;
  out->row_ptr = sp_malloc(((size_t)nqb + 1) * sizeof *out->row_ptr);
  out->col_idx = sp_malloc(sp_mul_size((size_t)(nqb * nkb), sizeof *out->col_idx));
  int64_t *chosen = sp_malloc(sp_mul_size((size_t)nkb, sizeof *chosen));
  uint8_t *keep = sp_malloc((size_t)nkb);
  double *w = sp_malloc(sp_mul_size((size_t)nkb, sizeof *w));
  sparsa_status st = SPARSA_OK;
  if (out->row_ptr == NULL || out->col_idx == NULL || chosen == NULL || keep == NULL || w == NULL) {
    st = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "pattern search: block lists");
    goto done;
  }
  double captured = 0.0;
  int64_t used = 0;
  out->row_ptr[0] = 0;
  for (int64_t r = 0; r < nqb; r++) {
    const double *row = buf->blocks + r * nkb;
    double row_mass = 0.0;
    for (int64_t c = 0; c < nkb; c++) row_mass += row[c];
    for (int64_t c = 0; c < nkb; c++) keep[c] = 0;
    if (row_mass > 0) {
      for (int64_t c = 0; c < nkb; c++) w[c] = row[c] / row_mass;
      int64_t count =
          sp_est_select(w, nkb, SPARSA_SELECT_THRESHOLD, 1, run->target, buf->order, chosen);
      for (int64_t e = 0; e < count; e++)
        if (row[chosen[e]] > 0) keep[chosen[e]] = 1;
    }
    for (int64_t c = 0; c < nkb; c++)
      if (keep[c]) {
        out->col_idx[used++] = (int32_t)c;
        captured += row[c];
      }
    out->row_ptr[r + 1] = used;
  }
  out->mass = captured / total_rows;
done:
  sp_free(chosen);
  sp_free(keep);
  sp_free(w);
  if (st != SPARSA_OK) sp_head_spec_free(out);
  return st;
}

static sparsa_status sp_search_head_with(sp_search_run *run, sp_search_buf *buf, int32_t h) {
  const sp_est_input *in = run->in;
  int64_t nkb = in->num_kv_blocks;
  int32_t bq = in->est.block_q, bk = in->est.block_kv, causal = in->est.causal;
  double total_rows = 0.0;
  for (int32_t b = 0; b < in->prob.batch; b++) {
    sp_load_keys(run, buf, b, h);
    for (int64_t e = 0; e < run->num_rows; e++) {
      int64_t i = run->rows[e], vis = sp_row_probs(run, buf, b, h, i);
      if (vis == 0) continue;
      total_rows += 1.0;
      int64_t pos = i + in->off;
      double *brow = buf->blocks + (i / bq) * nkb;
      buf->prefix[0] = 0.0;
      for (int64_t j = 0; j < vis; j++) {
        buf->prefix[j + 1] = buf->prefix[j] + buf->p[j];
        brow[j / bk] += buf->p[j];
        if (causal) {
          buf->col[j] += buf->p[j];
          buf->diag[pos - j] += buf->p[j];
        }
      }
      if (!causal) continue;
      for (int32_t s = 0; s < run->num_sinks; s++) {
        int64_t sink = run->sinks[s] < vis ? run->sinks[s] : vis;
        for (int32_t wi = 0; wi < run->num_windows; wi++) {
          int64_t lo = pos - run->windows[wi] + 1;
          if (lo < sink) lo = sink;
          double mass = buf->prefix[sink] + (lo < vis ? buf->prefix[vis] - buf->prefix[lo] : 0.0);
          buf->sw_mass[s * run->num_windows + wi] += mass;
        }
      }
    }
  }
  sp_head_spec best;
  int have_best = 0;
  memset(&best, 0, sizeof best);
  sparsa_status st = SPARSA_OK;
  if (total_rows == 0.0) { /* no evaluated row sees a key: nothing to keep */
    best.kind = SPARSA_HEAD_NONE;
    best.mass = 1.0;
    run->specs[h] = best;
    return SPARSA_OK;
  }
  if (causal && sp_allowed(run, SPARSA_HEAD_SINK_WINDOW)) {
    for (int32_t s = 0; s < run->num_sinks && st == SPARSA_OK; s++)
      for (int32_t wi = 0; wi < run->num_windows; wi++) {
        double mass = buf->sw_mass[s * run->num_windows + wi] / total_rows;
        if (!(mass >= run->target)) continue; /* a NaN mass (NaN in q or k) reaches nothing */
        sp_head_spec cand;
        memset(&cand, 0, sizeof cand);
        cand.kind = SPARSA_HEAD_SINK_WINDOW;
        cand.causal = 1;
        cand.sink = run->sinks[s];
        cand.window = run->windows[wi];
        cand.mass = mass;
        st = sp_offer(run, &cand, &best, &have_best);
        break; /* larger windows only cost more */
      }
  }
  if (st == SPARSA_OK && causal && sp_allowed(run, SPARSA_HEAD_VERTICAL_SLASH)) {
    sp_head_spec cand;
    int found = 0;
    st = sp_vslash_candidate(run, buf, h, total_rows, &cand, &found);
    if (st == SPARSA_OK && found) st = sp_offer(run, &cand, &best, &have_best);
  }
  if (st == SPARSA_OK && sp_allowed(run, SPARSA_HEAD_BLOCKS)) {
    sp_head_spec cand;
    st = sp_blocks_candidate(run, buf, total_rows, &cand);
    /* Every row keeps its target share of its own mass, so the head's
     * mass reaches the target up to rounding; not where a row's scores
     * are NaN (NaN in q or k): nothing ranks its blocks and it keeps
     * none. Such a candidate is not offered. */
    if (st == SPARSA_OK && !(cand.mass >= run->target - 1e-9)) sp_head_spec_free(&cand);
    else if (st == SPARSA_OK) st = sp_offer(run, &cand, &best, &have_best);
  }
  if (st == SPARSA_OK && (!have_best || sp_allowed(run, SPARSA_HEAD_DENSE))) {
    sp_head_spec cand;
    memset(&cand, 0, sizeof cand);
    cand.kind = SPARSA_HEAD_DENSE;
    cand.causal = causal ? 1 : 0;
    cand.mass = 1.0;
    st = sp_offer(run, &cand, &best, &have_best);
  }
  if (st != SPARSA_OK) {
    if (have_best) sp_head_spec_free(&best);
    return st;
  }
  run->specs[h] = best;
  return SPARSA_OK;
}

static sparsa_status sp_search_head(void *arg, int32_t h) {
  sp_search_run *run = arg;
  const sp_est_input *in = run->in;
  int64_t n = in->prob.kv_len, cells = in->num_q_blocks * in->num_kv_blocks;
  int32_t d = in->prob.head_dim;
  sp_search_buf buf;
  memset(&buf, 0, sizeof buf);
  buf.keys = sp_aligned_alloc(sp_mul_size((size_t)(n * d), sizeof(float)));
  buf.qrow = sp_malloc((size_t)d * sizeof(float));
  buf.p = sp_malloc(sp_mul_size((size_t)n, sizeof(double)));
  buf.prefix = sp_malloc(sp_mul_size((size_t)n + 1, sizeof(double)));
  buf.col = sp_calloc((size_t)n, sizeof(double));
  buf.diag = sp_calloc((size_t)n, sizeof(double));
  buf.blocks = sp_calloc((size_t)cells, sizeof(double));
  buf.sw_mass = sp_calloc((size_t)(run->num_sinks * run->num_windows), sizeof(double));
  buf.hist = sp_malloc(sp_mul_size((size_t)(2 * n + 1), sizeof(double)));
  buf.rank_col = sp_malloc(sp_mul_size((size_t)n, sizeof(int64_t)));
  buf.rank_diag = sp_malloc(sp_mul_size((size_t)n, sizeof(int64_t)));
  int64_t order_len = 2 * n > in->num_kv_blocks ? 2 * n : in->num_kv_blocks;
  buf.order = sp_malloc(sp_mul_size((size_t)order_len, sizeof(sp_scored)));
  sparsa_status st;
  if (!buf.keys || !buf.qrow || !buf.p || !buf.prefix || !buf.col || !buf.diag || !buf.blocks ||
      !buf.sw_mass || !buf.hist || !buf.rank_col || !buf.rank_diag || !buf.order)
    st = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "pattern search: scratch for kv_len %lld",
                 (long long)n);
  else
    st = sp_search_head_with(run, &buf, h);
  sp_search_buf_free(&buf);
  return st;
}

/* Evaluated rows: up to rows_per_block per query block, evenly spread, so
 * every block row of a block candidate is backed by data. */
static int64_t *sp_eval_rows(const sp_est_input *in, int32_t per_block, int64_t *count) {
  int64_t q_len = in->prob.q_len, bq = in->est.block_q;
  int64_t cap = per_block > 0 && per_block < bq ? in->num_q_blocks * per_block : q_len;
  int64_t *rows = sp_malloc(sp_mul_size((size_t)cap, sizeof *rows));
  if (rows == NULL) return NULL;
  int64_t n = 0;
  for (int64_t r = 0; r < in->num_q_blocks; r++) {
    int64_t start = r * bq, len = q_len - start < bq ? q_len - start : bq;
    int64_t take = per_block > 0 && per_block < len ? per_block : len;
    for (int64_t t = 0; t < take; t++) rows[n++] = start + (t * len + len / 2) / take % len;
  }
  *count = n;
  return rows;
}

SPARSA_API sparsa_status sparsa_pattern_search(sparsa_context *ctx,
                                               const sparsa_search_options *opts,
                                               const sparsa_problem *problem, const void *q,
                                               const void *k, sparsa_pattern_config **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(ctx);
  SP_CHECK_NULL(opts);
  if (opts->struct_size < sizeof(sparsa_search_options))
    return sp_fail(SPARSA_ERR_VERSION, "search_options.struct_size = %u: must be at least %zu",
                   (unsigned)opts->struct_size, sizeof(sparsa_search_options));
  if (ctx->engine != SPARSA_ENGINE_CPU)
    return sp_fail(SPARSA_ERR_UNSUPPORTED, "sparsa_pattern_search: runs on the CPU engine only");
  if (!(opts->target_mass > 0.0f && opts->target_mass <= 1.0f))
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "search_options.target_mass = %g: must be in (0, 1]",
                   (double)opts->target_mass);
  if (opts->rows_per_block < 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "search_options.rows_per_block = %d: must be >= 0",
                   (int)opts->rows_per_block);
  if (opts->reserved != 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "search_options.reserved must be 0");
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  est.block_q = opts->block_q;
  est.block_kv = opts->block_kv;
  est.causal = opts->causal ? 1 : 0;
  sp_est_input in;
  SP_TRY(sp_est_input_init(&in, ctx, &est, problem, q, k));

  sp_search_run run;
  memset(&run, 0, sizeof run);
  run.ctx = ctx;
  run.in = &in;
  run.target = opts->target_mass;
  run.allow = opts->allow;
  int64_t n = in.prob.kv_len;
  const int64_t sink_choices[SP_MAX_SINKS] = {0, est.block_kv, 4 * (int64_t)est.block_kv};
  for (int s = 0; s < SP_MAX_SINKS; s++)
    if (s == 0 || sink_choices[s] < n) run.sinks[run.num_sinks++] = sink_choices[s];
  int32_t nw = 1;
  for (int64_t w = est.block_kv; w < n; w *= 2) nw++;
  run.windows = sp_malloc((size_t)nw * sizeof *run.windows);
  run.rows = sp_eval_rows(&in, opts->rows_per_block, &run.num_rows);
  sparsa_pattern_config *cfg = sp_pattern_config_alloc(in.prob.q_heads);
  sparsa_status st = SPARSA_OK;
  if (run.windows == NULL || run.rows == NULL || cfg == NULL) {
    st = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "pattern search: allocating candidates");
  } else {
    for (int64_t w = est.block_kv; w < n; w *= 2) run.windows[run.num_windows++] = w;
    run.windows[run.num_windows++] = n;
    cfg->block_q = est.block_q;
    cfg->block_kv = est.block_kv;
    cfg->q_len = in.prob.q_len;
    cfg->kv_len = n;
    cfg->target_mass = opts->target_mass;
    run.specs = cfg->heads;
    st = sp_for_each_head(ctx, in.prob.q_heads, sp_search_head, &run);
  }
  sp_free(run.windows);
  sp_free((void *)run.rows);
  if (st != SPARSA_OK) {
    sparsa_pattern_config_destroy(cfg);
    return st;
  }
  *out = cfg;
  return SPARSA_OK;
}
