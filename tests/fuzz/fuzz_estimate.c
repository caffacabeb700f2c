/* Fuzz target: mask estimation from q and k.
 *
 * Every byte string becomes an estimator (any method, block sizes, rule,
 * top-k, threshold, stride, last queries, forced blocks, causal or not),
 * a small problem (dtype, batch, heads with GQA, head dim, lengths) and q
 * and k: values on a coarse grid, some of them replaced by raw bit
 * patterns (infinities and NaNs among them), so the selection sees ties,
 * infinite and NaN scores. sparsa_mask_estimate must return a documented
 * status with a message, or a mask that:
 * - is the same on a context of one thread and of three (heads over
 *   threads change nothing);
 * - for block methods, keeps per query-block row only admissible key
 *   blocks, and between min(top_k, admissible) and that plus the forced
 *   sink and diagonal blocks with top-k, at least one with a threshold;
 * - plans with the problem it was estimated for. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <sparsa/sparsa_estimator.h>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_qk.h"

#define FZ_MAX_BATCH 2
#define FZ_MAX_KV_HEADS 2
#define FZ_MAX_DIM 40
#define FZ_MAX_Q_LEN 160
#define FZ_MAX_KV_LEN 600

static sparsa_context *fz_context_of(int32_t threads) {
  static sparsa_context *ctx[2];
  const int slot = threads > 1;
  if (ctx[slot] == NULL) {
    FZ_REQUIRE(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx[slot]) == SPARSA_OK,
               "context: %s", sparsa_last_error());
    FZ_REQUIRE(sparsa_context_set_num_threads(ctx[slot], threads) == SPARSA_OK, "threads: %s",
               sparsa_last_error());
  }
  return ctx[slot];
}

/* A block size: mostly valid powers of two, sometimes anything. */
static int32_t fz_block(fz_input *in) {
  static const int32_t valid[5] = {16, 32, 64, 128, 256};
  const uint8_t sel = fz_u8(in);
  return sel % 8 == 7 ? fz_i32_edgy(in, 300) : valid[sel % 5];
}

static float fz_threshold(fz_input *in) {
  switch (fz_u8(in) % 10) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -0.5f;
    case 3: return 0.0f;
    case 4: return 1.0f;
    case 5: return 1.5f;
    case 6: {
      const uint32_t bits = fz_u32(in);
      float f;
      memcpy(&f, &bits, 4);
      return f;
    }
    default: return (float)fz_range(in, 1, 100) / 100.0f;
  }
}

static void fz_estimator(fz_input *in, sparsa_estimator *est) {
  const uint8_t method = fz_u8(in);
  const sparsa_estimator_method m =
      method % 16 == 15 ? (sparsa_estimator_method)(int32_t)fz_u32(in)
                        : (sparsa_estimator_method)(SPARSA_ESTIMATOR_POOLED_BLOCKS + method % 3);
  if (sparsa_estimator_init(est, m) != SPARSA_OK) {
    /* An unknown method: one method's defaults, the method left for
     * sparsa_mask_estimate to reject. */
    sparsa_estimator_init(est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
    est->method = m;
  }
  const uint8_t flags = fz_u8(in);
  est->block_q = fz_block(in);
  est->block_kv = fz_block(in);
  if (flags & 1) est->selection = (sparsa_selection)(fz_u8(in) % 5 == 4 ? 7 : fz_u8(in) % 2);
  if (flags & 2) est->top_k = fz_i32_edgy(in, 40);
  if (flags & 4) est->threshold = fz_threshold(in);
  if (flags & 8) est->stride = fz_i32_edgy(in, 16);
  if (flags & 16) est->last_q = fz_i32_edgy(in, 70);
  if (flags & 32) est->keep_sink_blocks = fz_i32_edgy(in, 4);
  if (flags & 64) est->keep_diagonal = fz_u8(in) % 2;
  if (flags & 128) est->causal = fz_u8(in) % 2;
}

static int fz_problem(fz_input *in, sparsa_problem *p) {
  sparsa_problem_init(p);
  p->dtype = (sparsa_dtype)(fz_u8(in) % 3);
  p->batch = (int32_t)fz_range(in, 1, FZ_MAX_BATCH);
  p->kv_heads = (int32_t)fz_range(in, 1, FZ_MAX_KV_HEADS);
  p->q_heads = p->kv_heads * (int32_t)fz_range(in, 1, 3);
  p->head_dim = (int32_t)fz_range(in, 1, FZ_MAX_DIM);
  p->kv_len = fz_range(in, 1, FZ_MAX_KV_LEN);
  p->q_len = fz_u8(in) % 3 == 0 ? p->kv_len : fz_range(in, 1, FZ_MAX_Q_LEN);
  if (p->q_len > FZ_MAX_Q_LEN) p->q_len = FZ_MAX_Q_LEN;
  return sparsa_problem_validate(p) == SPARSA_OK;
}

/* Admissible key blocks of query-block row r (a prefix), as
 * sparsa_estimator.h defines them. */
static int64_t fz_admissible(const sparsa_estimator *est, const sparsa_problem *p, int64_t r,
                             int64_t nkb) {
  if (!est->causal) return nkb;
  int64_t end = (r + 1) * est->block_q;
  if (end > p->q_len) end = p->q_len;
  const int64_t last = end - 1 + p->kv_len - p->q_len;
  if (last < 0) return 0;
  return last / est->block_kv + 1 < nkb ? last / est->block_kv + 1 : nkb;
}

/* Diagonal blocks of row r (the key blocks holding its aligned positions). */
static int64_t fz_diagonal(const sparsa_estimator *est, const sparsa_problem *p, int64_t r) {
  int64_t first = r * est->block_q + p->kv_len - p->q_len;
  int64_t end = (r + 1) * est->block_q < p->q_len ? (r + 1) * est->block_q : p->q_len;
  int64_t last = end - 1 + p->kv_len - p->q_len;
  if (first < 0) first = 0;
  if (last > p->kv_len - 1) last = p->kv_len - 1;
  return first <= last ? last / est->block_kv - first / est->block_kv + 1 : 0;
}

static void fz_check_rows(const sparsa_estimator *est, const sparsa_problem *p, int32_t head,
                          const int64_t *row_ptr, const int32_t *col, int64_t nqb, int64_t nkb) {
  for (int64_t r = 0; r < nqb; r++) {
    const int64_t n = fz_admissible(est, p, r, nkb), count = row_ptr[r + 1] - row_ptr[r];
    for (int64_t e = row_ptr[r]; e < row_ptr[r + 1]; e++)
      FZ_REQUIRE(col[e] >= 0 && col[e] < n, "head %d row %lld: block %d not admissible (%lld)",
                 head, (long long)r, col[e], (long long)n);
    if (n == 0) continue;
    if (est->selection == SPARSA_SELECT_TOP_K) {
      const int64_t k = est->top_k < n ? est->top_k : n;
      int64_t most = k + (est->keep_sink_blocks < n ? est->keep_sink_blocks : n) +
                     (est->keep_diagonal ? fz_diagonal(est, p, r) : 0);
      if (most > n) most = n;
      FZ_REQUIRE(count >= k && count <= most,
                 "head %d row %lld: %lld blocks, want %lld to %lld (top_k %d, %lld admissible)",
                 head, (long long)r, (long long)count, (long long)k, (long long)most, est->top_k,
                 (long long)n);
    } else {
      FZ_REQUIRE(count >= 1 && count <= n, "head %d row %lld: %lld blocks of %lld (threshold)",
                 head, (long long)r, (long long)count, (long long)n);
    }
  }
}

/* Head h's blocks of both masks are the same, and (block methods) obey the
 * rule. */
static void fz_compare_head(const sparsa_estimator *est, const sparsa_problem *p,
                            const sparsa_mask *a, const sparsa_mask *b, int32_t h, int64_t nqb,
                            int64_t nkb) {
  int64_t na = 0, nb = 0;
  FZ_REQUIRE(sparsa_mask_export_bsr(a, h, NULL, NULL, NULL, 0, &na) == SPARSA_OK, "export: %s",
             sparsa_last_error());
  FZ_REQUIRE(sparsa_mask_export_bsr(b, h, NULL, NULL, NULL, 0, &nb) == SPARSA_OK, "export: %s",
             sparsa_last_error());
  FZ_REQUIRE(na == nb, "head %d: %lld blocks on one thread, %lld on three", h, (long long)na,
             (long long)nb);
  int64_t *rows_a = malloc((size_t)(nqb + 1) * sizeof *rows_a);
  int64_t *rows_b = malloc((size_t)(nqb + 1) * sizeof *rows_b);
  int32_t *col_a = malloc((size_t)(na ? na : 1) * sizeof *col_a);
  int32_t *col_b = malloc((size_t)(na ? na : 1) * sizeof *col_b);
  FZ_REQUIRE(rows_a && rows_b && col_a && col_b, "out of memory");
  FZ_REQUIRE(sparsa_mask_export_bsr(a, h, rows_a, col_a, NULL, na, &na) == SPARSA_OK, "export");
  FZ_REQUIRE(sparsa_mask_export_bsr(b, h, rows_b, col_b, NULL, nb, &nb) == SPARSA_OK, "export");
  FZ_REQUIRE(!memcmp(rows_a, rows_b, (size_t)(nqb + 1) * sizeof *rows_a) &&
                 !memcmp(col_a, col_b, (size_t)na * sizeof *col_a),
             "head %d: the masks of one and three threads differ", h);
  if (est->method != SPARSA_ESTIMATOR_VERTICAL_SLASH)
    fz_check_rows(est, p, h, rows_a, col_a, nqb, nkb);
  free(rows_a);
  free(rows_b);
  free(col_a);
  free(col_b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_input in = fz_make(data, size);
  sparsa_estimator est;
  fz_estimator(&in, &est);
  sparsa_problem p;
  if (!fz_problem(&in, &p)) return 0;
  void *q = NULL, *k = NULL;
  fz_qk_make(&in, &p, &q, &k);
  sparsa_mask *one = NULL, *three = NULL;
  const sparsa_status st = sparsa_mask_estimate(fz_context_of(1), &est, &p, q, k, &one);
  if (getenv("SPARSA_FUZZ_VERBOSE") != NULL) { /* triage of a finding */
    double density = -1.0;
    if (st == SPARSA_OK) sparsa_mask_density(one, -1, &density);
    fprintf(stderr,
            "estimate: method %d blocks %d x %d rule %d top_k %d threshold %g stride %d last_q %d "
            "sinks %d diagonal %d causal %d; dtype %d batch %d heads %d/%d dim %d lengths "
            "%lld/%lld: status %d (%s), density %.3f\n",
            (int)est.method, est.block_q, est.block_kv, (int)est.selection, est.top_k,
            (double)est.threshold, est.stride, est.last_q, est.keep_sink_blocks,
            est.keep_diagonal, est.causal, (int)p.dtype, p.batch, p.q_heads, p.kv_heads,
            p.head_dim, (long long)p.q_len, (long long)p.kv_len, (int)st,
            st == SPARSA_OK ? "ok" : sparsa_last_error(), density);
  }
  if (st != SPARSA_OK) {
    FZ_REQUIRE(one == NULL && sparsa_last_error()[0] != '\0' &&
                   (st == SPARSA_ERR_INVALID_ARGUMENT || st == SPARSA_ERR_UNSUPPORTED ||
                    st == SPARSA_ERR_VERSION || st == SPARSA_ERR_OUT_OF_MEMORY),
               "estimate: status %d, mask %p, message \"%s\"", (int)st, (void *)one,
               sparsa_last_error());
  } else {
    FZ_REQUIRE(sparsa_mask_estimate(fz_context_of(3), &est, &p, q, k, &three) == SPARSA_OK,
               "the same estimate on three threads failed: %s", sparsa_last_error());
    sparsa_mask_info info;
    info.struct_size = sizeof info;
    FZ_REQUIRE(sparsa_mask_get_info(one, &info) == SPARSA_OK, "info: %s", sparsa_last_error());
    FZ_REQUIRE(info.num_heads == p.q_heads && info.q_len == p.q_len && info.kv_len == p.kv_len &&
                   info.block_q == est.block_q && info.block_kv == est.block_kv,
               "mask shape: %d heads %lld x %lld, blocks %d x %d", info.num_heads,
               (long long)info.q_len, (long long)info.kv_len, info.block_q, info.block_kv);
    for (int32_t h = 0; h < info.num_heads; h++)
      fz_compare_head(&est, &p, one, three, h, info.num_q_blocks, info.num_kv_blocks);
    sparsa_plan *plan = NULL;
    FZ_REQUIRE(sparsa_plan_create(fz_context_of(1), &p, one, &plan) == SPARSA_OK,
               "plan of an estimated mask: %s", sparsa_last_error());
    sparsa_plan_destroy(plan);
  }
  sparsa_mask_destroy(one);
  sparsa_mask_destroy(three);
  free(q);
  free(k);
  return 0;
}
