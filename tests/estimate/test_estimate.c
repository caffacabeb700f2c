/* Estimators against brute-force implementations of their definitions
 * (sparsa_estimator.h), written here independently in float64: the mask
 * must list exactly the blocks the definition selects, and vertical-slash
 * masks must keep the requested attention mass of the last queries. Run
 * once per CPU kernel path (SPARSA_CPU_ISA), which also picks the
 * estimators' product tiles. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sparsa/sparsa.h>

#include "common/test_main.h"
#include "common/test_setup.h"
#include "cpu_isa_skip.h"
#include "reference/ref_attention.h"

typedef struct tcase {
  int32_t batch, heads, kv_heads, d;
  int64_t q_len, kv_len;
  float *q, *k; /* packed BSHD float32 */
  double scale;
} tcase;

static uint64_t rng_state;
static double rnd_normal(void) {
  double u = 0, v = 0;
  for (int i = 0; i < 2; i++) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double x = ((rng_state >> 11) + 0.5) / 9007199254740992.0;
    if (i == 0) u = x; else v = x;
  }
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Random q/k with structure: a few heavy key columns and a local bias, so
 * the scores are far from uniform and selections are non-trivial. */
static void tcase_make(tcase *t, int32_t batch, int32_t heads, int32_t kv_heads, int32_t d,
                       int64_t q_len, int64_t kv_len, uint64_t seed) {
  t->batch = batch;
  t->heads = heads;
  t->kv_heads = kv_heads;
  t->d = d;
  t->q_len = q_len;
  t->kv_len = kv_len;
  t->scale = 1.0 / sqrt((double)d);
  rng_state = seed;
  t->q = malloc(sizeof(float) * (size_t)(batch * q_len * heads * d));
  t->k = malloc(sizeof(float) * (size_t)(batch * kv_len * kv_heads * d));
  for (int64_t e = 0; e < batch * q_len * heads * d; e++) t->q[e] = (float)rnd_normal();
  for (int64_t e = 0; e < batch * kv_len * kv_heads * d; e++) t->k[e] = (float)rnd_normal();
  /* heavy columns: keys aligned with a direction every query shares */
  for (int32_t b = 0; b < batch; b++)
    for (int64_t j = 0; j < kv_len; j++) {
      int heavy = (j % 37 == 3) || j < 4;
      for (int32_t h = 0; h < kv_heads; h++)
        if (heavy) t->k[((b * kv_len + j) * kv_heads + h) * d + (h % d)] += 6.0f;
    }
  for (int32_t b = 0; b < batch; b++)
    for (int64_t i = 0; i < q_len; i++)
      for (int32_t h = 0; h < heads; h++) t->q[((b * q_len + i) * heads + h) * d + ((h / (heads / kv_heads)) % d)] += 1.5f;
}

static void tcase_free(tcase *t) {
  free(t->q);
  free(t->k);
}

static double qv(const tcase *t, int32_t b, int64_t i, int32_t h, int32_t x) {
  return t->q[((b * t->q_len + i) * t->heads + h) * t->d + x];
}
static double kv(const tcase *t, int32_t b, int64_t j, int32_t h, int32_t x) {
  return t->k[((b * t->kv_len + j) * t->kv_heads + h) * t->d + x];
}

static sparsa_problem tcase_problem(const tcase *t) {
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.batch = t->batch;
  p.q_heads = t->heads;
  p.kv_heads = t->kv_heads;
  p.head_dim = t->d;
  p.q_len = t->q_len;
  p.kv_len = t->kv_len;
  return p;
}

/* ---- brute-force selection, as the header defines it ---- */

static const double *cmp_w;
static int cmp_desc(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  if (cmp_w[x] > cmp_w[y]) return -1;
  if (cmp_w[x] < cmp_w[y]) return 1;
  return (x > y) - (x < y);
}

static void bf_select(const sparsa_estimator *e, const double *w, int64_t n, uint8_t *keep) {
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
  for (int64_t c = 0; c < n; c++) idx[c] = c;
  cmp_w = w;
  qsort(idx, (size_t)n, sizeof *idx, cmp_desc);
  int64_t take = n;
  if (e->selection == SPARSA_SELECT_TOP_K) {
    take = e->top_k < n ? e->top_k : n;
  } else {
    double s = 0;
    for (int64_t c = 0; c < n; c++) {
      s += w[idx[c]];
      if (s >= e->threshold) {
        take = c + 1;
        break;
      }
    }
  }
  for (int64_t c = 0; c < take; c++) keep[idx[c]] = 1;
  free(idx);
}

static int64_t last_pos_of_block(const tcase *t, const sparsa_estimator *e, int64_t r) {
  int64_t end = (r + 1) * e->block_q;
  if (end > t->q_len) end = t->q_len;
  return end - 1 + (t->kv_len - t->q_len);
}

/* Expected bitmap (nqb x nkb) from block scores w (the definition's w). */
static void bf_blocks_from_scores(const tcase *t, const sparsa_estimator *e, const double *w,
                                  uint8_t *bitmap) {
  int64_t nqb = (t->q_len + e->block_q - 1) / e->block_q;
  int64_t nkb = (t->kv_len + e->block_kv - 1) / e->block_kv;
  int64_t off = t->kv_len - t->q_len;
  memset(bitmap, 0, (size_t)(nqb * nkb));
  for (int64_t r = 0; r < nqb; r++) {
    int64_t n = nkb;
    if (e->causal) {
      int64_t lp = last_pos_of_block(t, e, r);
      n = 0;
      for (int64_t c = 0; c < nkb; c++)
        if (c * e->block_kv <= lp) n = c + 1;
    }
    if (n == 0) continue;
    uint8_t *row = bitmap + r * nkb;
    bf_select(e, w + r * nkb, n, row);
    for (int64_t c = 0; c < e->keep_sink_blocks && c < n; c++) row[c] = 1;
    if (e->keep_diagonal) {
      int64_t end = (r + 1) * e->block_q < t->q_len ? (r + 1) * e->block_q : t->q_len;
      for (int64_t i = r * e->block_q; i < end; i++) {
        int64_t p = i + off;
        if (p >= 0 && p < t->kv_len) row[p / e->block_kv] = 1;
      }
    }
  }
}

static void bf_pooled_scores(const tcase *t, const sparsa_estimator *e, int32_t h, double *w) {
  int64_t nqb = (t->q_len + e->block_q - 1) / e->block_q;
  int64_t nkb = (t->kv_len + e->block_kv - 1) / e->block_kv;
  int32_t kh = h / (t->heads / t->kv_heads);
  memset(w, 0, sizeof(double) * (size_t)(nqb * nkb));
  double *qb = calloc((size_t)t->d, sizeof(double)), *kb = calloc((size_t)t->d, sizeof(double));
  double *s = calloc((size_t)nkb, sizeof(double));
  for (int32_t b = 0; b < t->batch; b++)
    for (int64_t r = 0; r < nqb; r++) {
      int64_t n = nkb;
      if (e->causal) {
        int64_t lp = last_pos_of_block(t, e, r);
        n = lp < 0 ? 0 : (lp / e->block_kv + 1 < nkb ? lp / e->block_kv + 1 : nkb);
      }
      if (n == 0) continue;
      int64_t i0 = r * e->block_q, i1 = i0 + e->block_q < t->q_len ? i0 + e->block_q : t->q_len;
      /* Every stride-th row from the block's start (stride 1: every row). */
      for (int32_t x = 0; x < t->d; x++) {
        qb[x] = 0;
        int64_t rows = 0;
        for (int64_t i = i0; i < i1; i += e->stride, rows++) qb[x] += qv(t, b, i, h, x);
        qb[x] /= (double)rows;
      }
      double mx = -INFINITY, z = 0;
      for (int64_t c = 0; c < n; c++) {
        int64_t j0 = c * e->block_kv, j1 = j0 + e->block_kv < t->kv_len ? j0 + e->block_kv : t->kv_len;
        double dot = 0;
        for (int32_t x = 0; x < t->d; x++) {
          kb[x] = 0;
          int64_t rows = 0;
          for (int64_t j = j0; j < j1; j += e->stride, rows++) kb[x] += kv(t, b, j, kh, x);
          dot += qb[x] * kb[x] / (double)rows;
        }
        s[c] = t->scale * dot;
        if (s[c] > mx) mx = s[c];
      }
      for (int64_t c = 0; c < n; c++) z += exp(s[c] - mx);
      for (int64_t c = 0; c < n; c++) w[r * nkb + c] += exp(s[c] - mx) / z / t->batch;
    }
  free(qb);
  free(kb);
  free(s);
}

static void bf_antidiag_scores(const tcase *t, const sparsa_estimator *e, int32_t h, double *w) {
  int64_t nqb = (t->q_len + e->block_q - 1) / e->block_q;
  int64_t nkb = (t->kv_len + e->block_kv - 1) / e->block_kv;
  int32_t S = e->stride, kh = h / (t->heads / t->kv_heads);
  int64_t nsa = (t->q_len + S - 1) / S, nsb = (t->kv_len + S - 1) / S;
  int64_t off = t->kv_len - t->q_len;
  double *ev = calloc((size_t)nsb, sizeof(double));
  memset(w, 0, sizeof(double) * (size_t)(nqb * nkb));
  for (int32_t b = 0; b < t->batch; b++)
    for (int64_t r = 0; r < nqb; r++) {
      int64_t a0 = r * e->block_q / S, a1 = (r + 1) * e->block_q / S;
      if (a1 > nsa) a1 = nsa;
      for (int64_t a = a0; a < a1; a++) {
        int64_t lastq = S * a + S - 1 < t->q_len - 1 ? S * a + S - 1 : t->q_len - 1;
        double mx = -INFINITY, z = 0;
        int64_t nb = 0;
        for (int64_t sb = 0; sb < nsb; sb++) {
          if (e->causal && S * sb > lastq + off) break;
          double sum = 0;
          for (int32_t tt = 0; tt < S; tt++) {
            int64_t i = S * a + S - 1 - tt, j = S * sb + tt;
            if (i >= t->q_len || j >= t->kv_len) continue;
            for (int32_t x = 0; x < t->d; x++) sum += qv(t, b, i, h, x) * kv(t, b, j, kh, x);
          }
          ev[sb] = t->scale / S * sum;
          if (ev[sb] > mx) mx = ev[sb];
          nb = sb + 1;
        }
        for (int64_t sb = 0; sb < nb; sb++) z += exp(ev[sb] - mx);
        for (int64_t sb = 0; sb < nb; sb++)
          w[r * nkb + (S * sb) / e->block_kv] += exp(ev[sb] - mx) / z / (double)(a1 - a0) / t->batch;
      }
    }
  free(ev);
}

/* Blocks of one head of a mask as a bitmap. */
static void mask_bitmap(const sparsa_mask *m, int32_t h, int64_t nqb, int64_t nkb, uint8_t *bitmap) {
  int64_t nb = 0;
  ck_assert_int_eq(sparsa_mask_export_bsr(m, h, NULL, NULL, NULL, 0, &nb), SPARSA_OK);
  int64_t *rp = malloc(sizeof(int64_t) * (size_t)(nqb + 1));
  int32_t *ci = malloc(sizeof(int32_t) * (size_t)(nb + 1));
  ck_assert_int_eq(sparsa_mask_export_bsr(m, h, rp, ci, NULL, nb, &nb), SPARSA_OK);
  memset(bitmap, 0, (size_t)(nqb * nkb));
  for (int64_t r = 0; r < nqb; r++)
    for (int64_t e = rp[r]; e < rp[r + 1]; e++) bitmap[r * nkb + ci[e]] = 1;
  free(rp);
  free(ci);
}

/* The estimator on q and k stored as dtype (their values are t->q and
 * t->k exactly) against the brute-force definition on t. */
static void check_block_estimator_typed(const tcase *t, const sparsa_estimator *e,
                                        sparsa_dtype dtype, const void *q, const void *k) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  sparsa_problem p = tcase_problem(t);
  p.dtype = dtype;
  sparsa_mask *m = NULL;
  sparsa_status st = sparsa_mask_estimate(ctx, e, &p, q, k, &m);
  ck_assert_msg(st == SPARSA_OK, "estimate: %s", sparsa_last_error());
  int64_t nqb = (t->q_len + e->block_q - 1) / e->block_q;
  int64_t nkb = (t->kv_len + e->block_kv - 1) / e->block_kv;
  double *w = malloc(sizeof(double) * (size_t)(nqb * nkb));
  uint8_t *want = malloc((size_t)(nqb * nkb)), *got = malloc((size_t)(nqb * nkb));
  int64_t selected = 0;
  for (int32_t h = 0; h < t->heads; h++) {
    if (e->method == SPARSA_ESTIMATOR_POOLED_BLOCKS)
      bf_pooled_scores(t, e, h, w);
    else
      bf_antidiag_scores(t, e, h, w);
    bf_blocks_from_scores(t, e, w, want);
    mask_bitmap(m, h, nqb, nkb, got);
    for (int64_t x = 0; x < nqb * nkb; x++) {
      ck_assert_msg(want[x] == got[x], "method %d head %d block (%lld, %lld): want %d got %d",
                    (int)e->method, (int)h, (long long)(x / nkb), (long long)(x % nkb),
                    want[x], got[x]);
      selected += want[x];
    }
  }
  /* The comparison is meaningful only if the selection is neither empty
   * nor everything. */
  ck_assert_int_gt(selected, 0);
  ck_assert_int_lt(selected, (int64_t)t->heads * nqb * nkb);
  free(w);
  free(want);
  free(got);
  sparsa_mask_destroy(m);
  sparsa_context_destroy(ctx);
}

static void check_block_estimator(const tcase *t, const sparsa_estimator *e) {
  check_block_estimator_typed(t, e, SPARSA_DTYPE_F32, t->q, t->k);
}

/* Rounds t's values to bf16 and returns them encoded (caller frees). */
static void tcase_to_bf16(tcase *t, uint16_t **q16, uint16_t **k16) {
  size_t nq = (size_t)(t->batch * t->q_len * t->heads * t->d);
  size_t nk = (size_t)(t->batch * t->kv_len * t->kv_heads * t->d);
  *q16 = malloc(2 * nq);
  *k16 = malloc(2 * nk);
  for (size_t e = 0; e < nq; e++) {
    (*q16)[e] = ref_bf16_encode(ref_round(t->q[e], SPARSA_DTYPE_BF16));
    t->q[e] = (float)ref_bf16_decode((*q16)[e]);
  }
  for (size_t e = 0; e < nk; e++) {
    (*k16)[e] = ref_bf16_encode(ref_round(t->k[e], SPARSA_DTYPE_BF16));
    t->k[e] = (float)ref_bf16_decode((*k16)[e]);
  }
}

START_TEST(pooled_matches_definition) {
  tcase t;
  tcase_make(&t, 2, 4, 2, 32, 300, 300, 11);
  sparsa_estimator e;
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  e.block_q = 32;
  e.block_kv = 16;
  e.threshold = 0.8f;
  check_block_estimator(&t, &e);
  e.selection = SPARSA_SELECT_TOP_K;
  e.top_k = 3;
  check_block_estimator(&t, &e);
  e.causal = 0;
  e.keep_diagonal = 0;
  e.keep_sink_blocks = 0;
  check_block_estimator(&t, &e);
  tcase_free(&t);
  /* q_len < kv_len (bottom-right) and q_len > kv_len (rows with no key) */
  tcase_make(&t, 1, 2, 1, 16, 150, 333, 12);
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  e.block_q = 16;
  e.block_kv = 32;
  e.threshold = 0.7f;
  check_block_estimator(&t, &e);
  tcase_free(&t);
  tcase_make(&t, 1, 2, 2, 16, 333, 150, 13);
  e.block_q = 64;
  e.block_kv = 16;
  check_block_estimator(&t, &e);
  tcase_free(&t);
  /* Head dims off the runs of 16 the block sums take (a run and a tail,
   * a tail alone). */
  const int32_t odd_dims[2] = {40, 13};
  for (int i = 0; i < 2; i++) {
    tcase_make(&t, 1, 2, 1, odd_dims[i], 210, 210, 15 + (uint64_t)i);
    e.block_q = e.block_kv = 32;
    check_block_estimator(&t, &e);
    uint16_t *q16, *k16;
    tcase_to_bf16(&t, &q16, &k16);
    check_block_estimator_typed(&t, &e, SPARSA_DTYPE_BF16, q16, k16);
    free(q16);
    free(k16);
    tcase_free(&t);
  }
}
END_TEST

/* 1 when two block masks of t's heads keep different blocks somewhere. */
static int masks_differ(const sparsa_mask *a, const sparsa_mask *b, const tcase *t,
                        const sparsa_estimator *e) {
  int64_t nqb = (t->q_len + e->block_q - 1) / e->block_q;
  int64_t nkb = (t->kv_len + e->block_kv - 1) / e->block_kv;
  uint8_t *x = malloc((size_t)(nqb * nkb)), *y = malloc((size_t)(nqb * nkb));
  int differ = 0;
  for (int32_t h = 0; h < t->heads && !differ; h++) {
    mask_bitmap(a, h, nqb, nkb, x);
    mask_bitmap(b, h, nqb, nkb, y);
    differ = memcmp(x, y, (size_t)(nqb * nkb)) != 0;
  }
  free(x);
  free(y);
  return differ;
}

/* Means of every stride-th row: lengths off the block grid (last blocks of
 * 12 and 13 rows take 3 and 4 of them at stride 4), GQA, a batch, top-k
 * and threshold, strides up to the smaller block. */
START_TEST(pooled_strided_matches_definition) {
  tcase t;
  tcase_make(&t, 2, 4, 2, 32, 300, 301, 14);
  sparsa_estimator e;
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  ck_assert_int_eq(e.stride, 1);
  e.block_q = 32;
  e.block_kv = 16;
  e.threshold = 0.8f;
  const int32_t strides[] = {2, 4, 16};
  for (int i = 0; i < 3; i++) {
    e.stride = strides[i];
    e.selection = SPARSA_SELECT_THRESHOLD;
    check_block_estimator(&t, &e);
    e.selection = SPARSA_SELECT_TOP_K;
    e.top_k = 3;
    check_block_estimator(&t, &e);
  }
  tcase_free(&t);
  /* The strided means differ from the full ones: the test can tell. */
  tcase_make(&t, 1, 2, 1, 16, 256, 256, 15);
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  sparsa_problem p = tcase_problem(&t);
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  e.block_q = e.block_kv = 16;
  e.selection = SPARSA_SELECT_TOP_K;
  e.top_k = 2;
  e.keep_sink_blocks = 0;
  e.keep_diagonal = 0;
  sparsa_mask *full = NULL, *strided = NULL;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &full), SPARSA_OK);
  e.stride = 8;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &strided), SPARSA_OK);
  ck_assert_int_eq(masks_differ(full, strided, &t, &e), 1);
  sparsa_mask_destroy(strided);
  /* A zero stride (a struct filled by hand) takes every row. */
  e.stride = 0;
  strided = NULL;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &strided), SPARSA_OK);
  ck_assert_int_eq(masks_differ(full, strided, &t, &e), 0);
  sparsa_mask_destroy(full);
  sparsa_mask_destroy(strided);
  /* A stride that does not divide both blocks is refused by name. */
  e.stride = 32;
  sparsa_mask *m = NULL;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m), SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(m);
  ck_assert_ptr_nonnull(strstr(sparsa_last_error(), "stride"));
  e.stride = 3;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m), SPARSA_ERR_INVALID_ARGUMENT);
  sparsa_context_destroy(ctx);
  tcase_free(&t);
}
END_TEST

START_TEST(antidiagonal_matches_definition) {
  tcase t;
  tcase_make(&t, 2, 4, 2, 16, 260, 260, 21);
  sparsa_estimator e;
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_ANTIDIAGONAL);
  e.block_q = 32;
  e.block_kv = 32;
  e.stride = 8;
  e.threshold = 0.8f;
  check_block_estimator(&t, &e);
  e.selection = SPARSA_SELECT_TOP_K;
  e.top_k = 2;
  e.stride = 4;
  e.keep_sink_blocks = 0;
  check_block_estimator(&t, &e);
  e.causal = 0;
  e.selection = SPARSA_SELECT_THRESHOLD;
  e.threshold = 0.6f;
  check_block_estimator(&t, &e);
  tcase_free(&t);
  tcase_make(&t, 1, 2, 1, 16, 100, 290, 22);
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_ANTIDIAGONAL);
  e.block_q = 16;
  e.block_kv = 64;
  e.stride = 16;
  e.threshold = 0.75f;
  check_block_estimator(&t, &e);
  tcase_free(&t);
}
END_TEST

/* Every stride the 64-token blocks allow, in float32 and in bf16 (which
 * takes the packed bf16 product where the CPU has bf16 dot products), with
 * an even and an odd head dim (odd rows of odd width pad the bf16 pairs),
 * causal with q_len < kv_len and bidirectional. */
START_TEST(antidiagonal_every_stride) {
  const int32_t dims[2] = {16, 13};
  for (int di = 0; di < 2; di++) {
    tcase t;
    tcase_make(&t, 1, 2, 1, dims[di], 290, 333, 23 + (uint64_t)di);
    uint16_t *q16, *k16;
    tcase_to_bf16(&t, &q16, &k16);
    for (int32_t S = 1; S <= 64; S *= 2) {
      sparsa_estimator e;
      sparsa_estimator_init(&e, SPARSA_ESTIMATOR_ANTIDIAGONAL);
      e.block_q = e.block_kv = 64;
      e.stride = S;
      e.threshold = 0.7f;
      e.keep_sink_blocks = 0;
      check_block_estimator_typed(&t, &e, SPARSA_DTYPE_F32, t.q, t.k);
      check_block_estimator_typed(&t, &e, SPARSA_DTYPE_BF16, q16, k16);
      e.causal = 0;
      e.keep_diagonal = 0;
      e.selection = SPARSA_SELECT_TOP_K;
      e.top_k = 2;
      check_block_estimator_typed(&t, &e, SPARSA_DTYPE_F32, t.q, t.k);
      check_block_estimator_typed(&t, &e, SPARSA_DTYPE_BF16, q16, k16);
    }
    free(q16);
    free(k16);
    tcase_free(&t);
  }
}
END_TEST

/* Brute-force vertical-slash: columns and offsets by the definition. */
static void bf_vslash(const tcase *t, const sparsa_estimator *e, int32_t h, uint8_t *col,
                      uint8_t *diag) {
  int64_t n = t->kv_len, off = t->kv_len - t->q_len;
  int64_t L = e->last_q < t->q_len ? e->last_q : t->q_len;
  int32_t kh = h / (t->heads / t->kv_heads);
  double *V = calloc((size_t)n, sizeof(double)), *D = calloc((size_t)n, sizeof(double));
  double *s = calloc((size_t)n, sizeof(double));
  for (int32_t b = 0; b < t->batch; b++)
    for (int64_t i = t->q_len - L; i < t->q_len; i++) {
      int64_t p = i + off;
      if (p < 0) continue;
      double mx = -INFINITY, z = 0;
      for (int64_t j = 0; j <= p; j++) {
        double dot = 0;
        for (int32_t x = 0; x < t->d; x++) dot += qv(t, b, i, h, x) * kv(t, b, j, kh, x);
        s[j] = t->scale * dot;
        if (s[j] > mx) mx = s[j];
      }
      for (int64_t j = 0; j <= p; j++) z += exp(s[j] - mx);
      for (int64_t j = 0; j <= p; j++) {
        double pr = exp(s[j] - mx) / z / (double)L / t->batch;
        V[j] += pr;
        D[p - j] += pr;
      }
    }
  memset(col, 0, (size_t)n);
  memset(diag, 0, (size_t)n);
  bf_select(e, V, n, col);
  bf_select(e, D, n, diag);
  for (int64_t j = 0; j < (int64_t)e->keep_sink_blocks * e->block_kv && j < n; j++) col[j] = 1;
  if (e->keep_diagonal)
    for (int64_t d = 0; d < e->block_kv && d < n; d++) diag[d] = 1;
  free(V);
  free(D);
  free(s);
}

/* Mass of the last queries' attention (float64) inside the pattern. */
static double bf_vslash_mass(const tcase *t, const sparsa_estimator *e, int32_t h,
                             const uint8_t *col, const uint8_t *diag) {
  int64_t off = t->kv_len - t->q_len;
  int64_t L = e->last_q < t->q_len ? e->last_q : t->q_len;
  int32_t kh = h / (t->heads / t->kv_heads);
  double *s = calloc((size_t)t->kv_len, sizeof(double));
  double total = 0;
  int64_t rows = 0;
  for (int32_t b = 0; b < t->batch; b++)
    for (int64_t i = t->q_len - L; i < t->q_len; i++) {
      int64_t p = i + off;
      if (p < 0) continue;
      double mx = -INFINITY, z = 0, in = 0;
      for (int64_t j = 0; j <= p; j++) {
        double dot = 0;
        for (int32_t x = 0; x < t->d; x++) dot += qv(t, b, i, h, x) * kv(t, b, j, kh, x);
        s[j] = t->scale * dot;
        if (s[j] > mx) mx = s[j];
      }
      for (int64_t j = 0; j <= p; j++) {
        double pr = exp(s[j] - mx);
        z += pr;
        if (col[j] || diag[p - j]) in += pr;
      }
      total += in / z;
      rows++;
    }
  free(s);
  return total / (double)rows;
}

static void check_vslash_typed(const tcase *t, const sparsa_estimator *e, sparsa_dtype dtype,
                               const void *q, const void *k) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  sparsa_problem p = tcase_problem(t);
  p.dtype = dtype;
  sparsa_mask *m = NULL;
  ck_assert_msg(sparsa_mask_estimate(ctx, e, &p, q, k, &m) == SPARSA_OK, "%s",
                sparsa_last_error());
  int64_t n = t->kv_len;
  uint8_t *col = malloc((size_t)n), *diag = malloc((size_t)n);
  int64_t *cols = malloc(sizeof(int64_t) * (size_t)n), *offs = malloc(sizeof(int64_t) * (size_t)n);
  int64_t nqb = (t->q_len + e->block_q - 1) / e->block_q, nkb = (n + e->block_kv - 1) / e->block_kv;
  for (int32_t h = 0; h < t->heads; h++) {
    bf_vslash(t, e, h, col, diag);
    int64_t nc = 0, nd = 0;
    for (int64_t j = 0; j < n; j++) {
      if (col[j]) cols[nc++] = j;
      if (diag[j]) offs[nd++] = j;
    }
    ck_assert_int_lt(nc + nd, 2 * n); /* a real selection, not everything */
    if (e->selection == SPARSA_SELECT_THRESHOLD) {
      double mass = bf_vslash_mass(t, e, h, col, diag);
      ck_assert_msg(mass >= e->threshold - 1e-9, "head %d: mass %.6f < threshold %.3f", (int)h,
                    mass, (double)e->threshold);
    }
    /* The estimated mask equals the mask of the brute-force pattern, blocks
     * and full/partial flags alike. */
    sparsa_pattern *pat = NULL;
    ck_assert_int_eq(sparsa_pattern_create_vertical_slash(cols, nc, offs, nd, &pat), SPARSA_OK);
    const sparsa_pattern *pats[1] = {pat};
    sparsa_mask *want = NULL;
    test_mask_shape shape = {t->q_len, n, e->block_q, e->block_kv, SPARSA_ALIGN_BOTTOM_RIGHT};
    ck_assert_int_eq(test_mask_create(ctx, shape, pats, 1, &want), SPARSA_OK);
    int64_t na = 0, nb = 0;
    sparsa_mask_export_bsr(want, 0, NULL, NULL, NULL, 0, &na);
    sparsa_mask_export_bsr(m, h, NULL, NULL, NULL, 0, &nb);
    ck_assert_int_eq(na, nb);
    int64_t *ra = malloc(sizeof(int64_t) * (size_t)(nqb + 1)), *rb = malloc(sizeof(int64_t) * (size_t)(nqb + 1));
    int32_t *ca = malloc(sizeof(int32_t) * (size_t)(na + 1)), *cb = malloc(sizeof(int32_t) * (size_t)(nb + 1));
    uint8_t *fa = malloc((size_t)(na + 1)), *fb = malloc((size_t)(nb + 1));
    sparsa_mask_export_bsr(want, 0, ra, ca, fa, na, &na);
    sparsa_mask_export_bsr(m, h, rb, cb, fb, nb, &nb);
    ck_assert_mem_eq(ra, rb, sizeof(int64_t) * (size_t)(nqb + 1));
    if (na) {
      ck_assert_mem_eq(ca, cb, sizeof(int32_t) * (size_t)na);
      ck_assert_mem_eq(fa, fb, (size_t)na);
    }
    ck_assert_int_lt(na, nqb * nkb);
    free(ra); free(rb); free(ca); free(cb); free(fa); free(fb);
    sparsa_mask_destroy(want);
    sparsa_pattern_destroy(pat);
  }
  free(col);
  free(diag);
  free(cols);
  free(offs);
  sparsa_mask_destroy(m);
  sparsa_context_destroy(ctx);
}

static void check_vslash(const tcase *t, const sparsa_estimator *e) {
  check_vslash_typed(t, e, SPARSA_DTYPE_F32, t->q, t->k);
}

START_TEST(vertical_slash_matches_definition_and_keeps_mass) {
  tcase t;
  tcase_make(&t, 2, 4, 2, 16, 400, 400, 31);
  sparsa_estimator e;
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_VERTICAL_SLASH);
  e.block_q = 32;
  e.block_kv = 32;
  e.last_q = 48;
  e.threshold = 0.9f;
  e.keep_sink_blocks = 0;
  e.keep_diagonal = 0;
  check_vslash(&t, &e);
  e.keep_sink_blocks = 1;
  e.keep_diagonal = 1;
  e.threshold = 0.5f;
  check_vslash(&t, &e);
  e.selection = SPARSA_SELECT_TOP_K;
  e.top_k = 5;
  check_vslash(&t, &e);
  tcase_free(&t);
  tcase_make(&t, 1, 2, 1, 16, 90, 333, 32);
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_VERTICAL_SLASH);
  e.block_q = 16;
  e.block_kv = 16;
  e.last_q = 200; /* more than q_len: every query */
  e.threshold = 0.95f;
  check_vslash(&t, &e);
  tcase_free(&t);
  /* bf16 inputs (the packed bf16 product where the CPU has one), odd dim */
  tcase_make(&t, 1, 2, 1, 13, 300, 420, 33);
  uint16_t *q16, *k16;
  tcase_to_bf16(&t, &q16, &k16);
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_VERTICAL_SLASH);
  e.block_q = e.block_kv = 32;
  e.last_q = 70;
  e.threshold = 0.9f;
  check_vslash_typed(&t, &e, SPARSA_DTYPE_BF16, q16, k16);
  check_vslash_typed(&t, &e, SPARSA_DTYPE_F32, t.q, t.k);
  free(q16);
  free(k16);
  tcase_free(&t);
  /* A head dim of whole 32-element steps (the amxbf16 path's tiles), last
   * queries not a multiple of the 8-row tile. */
  tcase_make(&t, 1, 4, 2, 32, 200, 333, 34);
  tcase_to_bf16(&t, &q16, &k16);
  e.last_q = 45;
  check_vslash_typed(&t, &e, SPARSA_DTYPE_BF16, q16, k16);
  free(q16);
  free(k16);
  tcase_free(&t);
}
END_TEST

/* Half-precision inputs are read as their exact values: the mask equals the
 * one estimated from the same values in float32. */
START_TEST(f16_and_bf16_inputs) {
  tcase t;
  tcase_make(&t, 1, 2, 2, 24, 200, 200, 41); /* a run of 16 dims and a tail of 8 */
  for (int dt = 1; dt <= 2; dt++) {
    size_t nq = (size_t)(t.q_len * t.heads * t.d), nk = (size_t)(t.kv_len * t.kv_heads * t.d);
    uint16_t *q16 = malloc(2 * nq), *k16 = malloc(2 * nk);
    for (size_t e = 0; e < nq; e++) {
      q16[e] = dt == 1 ? ref_f16_encode(ref_round(t.q[e], SPARSA_DTYPE_F16)) : ref_bf16_encode(ref_round(t.q[e], SPARSA_DTYPE_BF16));
      t.q[e] = (float)(dt == 1 ? ref_f16_decode(q16[e]) : ref_bf16_decode(q16[e]));
    }
    for (size_t e = 0; e < nk; e++) {
      k16[e] = dt == 1 ? ref_f16_encode(ref_round(t.k[e], SPARSA_DTYPE_F16)) : ref_bf16_encode(ref_round(t.k[e], SPARSA_DTYPE_BF16));
      t.k[e] = (float)(dt == 1 ? ref_f16_decode(k16[e]) : ref_bf16_decode(k16[e]));
    }
    sparsa_context *ctx = NULL;
    sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx);
    sparsa_estimator e;
    sparsa_estimator_init(&e, SPARSA_ESTIMATOR_POOLED_BLOCKS);
    e.block_q = e.block_kv = 16;
    e.threshold = 0.8f;
    sparsa_problem p = tcase_problem(&t);
    sparsa_mask *m32 = NULL, *m16 = NULL;
    ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m32), SPARSA_OK);
    p.dtype = dt == 1 ? SPARSA_DTYPE_F16 : SPARSA_DTYPE_BF16;
    ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, q16, k16, &m16), SPARSA_OK);
    int64_t n = (200 + 15) / 16;
    uint8_t *a = malloc((size_t)(n * n)), *b = malloc((size_t)(n * n));
    for (int32_t h = 0; h < t.heads; h++) {
      mask_bitmap(m32, h, n, n, a);
      mask_bitmap(m16, h, n, n, b);
      ck_assert_mem_eq(a, b, (size_t)(n * n));
    }
    free(a);
    free(b);
    free(q16);
    free(k16);
    sparsa_mask_destroy(m32);
    sparsa_mask_destroy(m16);
    sparsa_context_destroy(ctx);
  }
  tcase_free(&t);
}
END_TEST

/* Layout is described by strides: the same values stored head-major (BHSD)
 * give the same masks as packed BSHD. */
START_TEST(strided_layouts) {
  tcase t;
  tcase_make(&t, 2, 4, 2, 16, 130, 170, 61);
  size_t nq = (size_t)(t.batch * t.q_len * t.heads * t.d), nk = (size_t)(t.batch * t.kv_len * t.kv_heads * t.d);
  float *qh = malloc(sizeof(float) * nq), *kh = malloc(sizeof(float) * nk);
  for (int32_t b = 0; b < t.batch; b++)
    for (int32_t h = 0; h < t.heads; h++)
      for (int64_t i = 0; i < t.q_len; i++)
        for (int32_t x = 0; x < t.d; x++)
          qh[((b * t.heads + h) * t.q_len + i) * t.d + x] = (float)qv(&t, b, i, h, x);
  for (int32_t b = 0; b < t.batch; b++)
    for (int32_t h = 0; h < t.kv_heads; h++)
      for (int64_t j = 0; j < t.kv_len; j++)
        for (int32_t x = 0; x < t.d; x++)
          kh[((b * t.kv_heads + h) * t.kv_len + j) * t.d + x] = (float)kv(&t, b, j, h, x);
  sparsa_context *ctx = NULL;
  sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx);
  for (int method = 0; method < 3; method++) {
    sparsa_estimator e;
    sparsa_estimator_init(&e, (sparsa_estimator_method)method);
    e.block_q = e.block_kv = 16;
    e.stride = 4;
    e.last_q = 20;
    e.threshold = 0.8f;
    sparsa_problem p = tcase_problem(&t), ph = p;
    ph.q_stride[0] = (int64_t)t.heads * t.q_len * t.d;
    ph.q_stride[1] = t.d;
    ph.q_stride[2] = t.q_len * t.d;
    ph.k_stride[0] = (int64_t)t.kv_heads * t.kv_len * t.d;
    ph.k_stride[1] = t.d;
    ph.k_stride[2] = t.kv_len * t.d;
    sparsa_mask *a = NULL, *b = NULL;
    ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &a), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &ph, qh, kh, &b), SPARSA_OK);
    int64_t nqb = (t.q_len + 15) / 16, nkb = (t.kv_len + 15) / 16;
    uint8_t *ma = malloc((size_t)(nqb * nkb)), *mb = malloc((size_t)(nqb * nkb));
    for (int32_t h = 0; h < t.heads; h++) {
      mask_bitmap(a, h, nqb, nkb, ma);
      mask_bitmap(b, h, nqb, nkb, mb);
      ck_assert_mem_eq(ma, mb, (size_t)(nqb * nkb));
    }
    free(ma);
    free(mb);
    sparsa_mask_destroy(a);
    sparsa_mask_destroy(b);
  }
  sparsa_context_destroy(ctx);
  free(qh);
  free(kh);
  tcase_free(&t);
}
END_TEST

START_TEST(invalid_arguments) {
  tcase t;
  tcase_make(&t, 1, 2, 1, 16, 64, 64, 51);
  sparsa_context *ctx = NULL;
  sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx);
  sparsa_problem p = tcase_problem(&t);
  sparsa_estimator e;
  sparsa_mask *m = (sparsa_mask *)&p;
  ck_assert_int_eq(sparsa_estimator_init(NULL, SPARSA_ESTIMATOR_POOLED_BLOCKS), SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(sparsa_estimator_init(&e, (sparsa_estimator_method)7), SPARSA_ERR_INVALID_ARGUMENT);
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  e.block_q = 48;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m), SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(m);
  ck_assert_ptr_nonnull(strstr(sparsa_last_error(), "block_q"));
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  e.threshold = 1.5f;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m), SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(sparsa_last_error(), "threshold"));
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_ANTIDIAGONAL);
  e.stride = 128;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m), SPARSA_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(sparsa_last_error(), "stride"));
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_VERTICAL_SLASH);
  e.causal = 0;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m), SPARSA_ERR_UNSUPPORTED);
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  e.struct_size = 8;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m), SPARSA_ERR_VERSION);
  sparsa_estimator_init(&e, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  int32_t cu[2] = {0, 64};
  p.cu_seqlens_q = cu;
  p.cu_seqlens_kv = cu;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m), SPARSA_ERR_UNSUPPORTED);
  p = tcase_problem(&t);
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, NULL, t.k, &m), SPARSA_ERR_INVALID_ARGUMENT);
  p.q_len = 0;
  ck_assert_int_eq(sparsa_mask_estimate(ctx, &e, &p, t.q, t.k, &m), SPARSA_ERR_INVALID_ARGUMENT);
  sparsa_context_destroy(ctx);
  tcase_free(&t);
}
END_TEST

int main(void) {
  test_skip_unless_cpu_isa_runs();
  Suite *s = suite_create("estimate");
  TCase *tc = tcase_create("estimators");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, pooled_matches_definition);
  tcase_add_test(tc, pooled_strided_matches_definition);
  tcase_add_test(tc, antidiagonal_matches_definition);
  tcase_add_test(tc, antidiagonal_every_stride);
  tcase_add_test(tc, vertical_slash_matches_definition_and_keeps_mass);
  tcase_add_test(tc, f16_and_bf16_inputs);
  tcase_add_test(tc, strided_layouts);
  tcase_add_test(tc, invalid_arguments);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
