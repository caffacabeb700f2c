/* The estimators (pooled blocks, antidiagonal, vertical-slash) on a CUDA
 * context against the CPU engine's on the same inputs: the same blocks in
 * every head (checked entry by entry, and for vertical-slash the same token
 * density, so the same columns and diagonals); for the block methods the
 * same mass captured of the definition's scores (computed here in float64,
 * independently of both engines), each threshold row keeping at least the
 * requested mass; and the estimated mask planned and executed on the GPU,
 * matching the CPU engine on the same blocks; planned again on a fresh
 * estimate before any host query (from the device's lists), the same
 * output bit for bit, and the host lists read afterwards the same. Inputs are multiples of 1/64
 * (exact in f32, f16 and bf16) with a random bias per block, so scores are
 * far apart and rounding cannot flip a selection; cases with every input
 * equal check the tie-breaking. Then one timing line per method: the
 * estimate against the sparse attention it feeds at N = 16384, 32 query
 * heads with 32 kv heads and then with 8, d128, bf16, 128 x 128 blocks,
 * ~10% of the blocks.
 *
 * Usage: estimate_gpu_test [--no-timing | --timing-only]. Exits 77 (skipped) without a
 * usable device. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>
#include <sparsa/sparsa.h>

enum { SKIP_CODE = 77 };

static sparsa_context *g_gpu, *g_cpu;
static int g_passed, g_failed;

#define CHECK(cond, ...)                              \
  do {                                                \
    if (!(cond)) {                                    \
      printf("  FAIL %s:%d: ", __FILE__, __LINE__);   \
      printf(__VA_ARGS__);                            \
      printf("\n");                                   \
      return 0;                                       \
    }                                                 \
  } while (0)

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double rnd_unit(void) { /* [-1, 1) */
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* ---- values exactly representable in every dtype ---- */

static double quantize(double x) {
  double v = round(x * 64.0) / 64.0;
  return v > 2.0 ? 2.0 : v < -2.0 ? -2.0 : v;
}

static uint16_t to_half(double x) { /* x = k / 64, |x| <= 2: exact */
  if (x == 0.0) return 0;
  uint16_t sign = x < 0 ? 0x8000u : 0;
  double a = fabs(x);
  int e = 0;
  double m = frexp(a, &e); /* a = m 2^e, m in [0.5, 1) */
  uint16_t exp = (uint16_t)(e - 1 + 15);
  uint16_t man = (uint16_t)((m * 2.0 - 1.0) * 1024.0);
  return (uint16_t)(sign | (exp << 10) | man);
}

static uint16_t to_bf16(double x) { /* exact for these values */
  float f = (float)x;
  uint32_t bits;
  memcpy(&bits, &f, 4);
  return (uint16_t)(bits >> 16);
}

static void store(sparsa_dtype t, void *base, size_t i, double x) {
  if (t == SPARSA_DTYPE_F32)
    ((float *)base)[i] = (float)x;
  else if (t == SPARSA_DTYPE_F16)
    ((uint16_t *)base)[i] = to_half(x);
  else
    ((uint16_t *)base)[i] = to_bf16(x);
}

static double load(sparsa_dtype t, const void *base, size_t i) {
  if (t == SPARSA_DTYPE_F32) return ((const float *)base)[i];
  uint16_t h = ((const uint16_t *)base)[i];
  if (t == SPARSA_DTYPE_BF16) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
  }
  int e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
  return (h & 0x8000u) ? -v : v;
}

static size_t esize(sparsa_dtype t) { return t == SPARSA_DTYPE_F32 ? 4 : 2; }

/* ---- one comparison case ---- */

typedef struct est_case {
  const char *name;
  sparsa_dtype dtype;
  int32_t batch, q_heads, kv_heads, head_dim;
  int64_t q_len, kv_len;
  int32_t block_q, block_kv;
  sparsa_selection selection;
  int32_t top_k;
  float threshold;
  int32_t causal, sinks, diagonal;
  sparsa_estimator_method method; /* 0: pooled blocks */
  int32_t stride;                 /* antidiagonal; pooled means' row step (0: every row) */
  int32_t flat;                   /* every input 1/4: every score ties */
  int32_t last_q;                 /* vertical-slash; 0: the default */
} est_case;

/* Packed [batch][len][heads][head_dim] with a random bias per (head,
 * block) and noise per token. */
static void *make_tensor(const est_case *c, int64_t len, int32_t heads, int32_t block) {
  size_t n = (size_t)c->batch * len * heads * c->head_dim;
  void *t = malloc(n * esize(c->dtype));
  int64_t nb = (len + block - 1) / block;
  double *bias = malloc(sizeof(double) * (size_t)(nb * heads * c->head_dim));
  for (int32_t b = 0; b < c->batch; b++) {
    for (size_t i = 0; i < (size_t)(nb * heads * c->head_dim); i++) bias[i] = rnd_unit();
    for (int64_t s = 0; s < len; s++)
      for (int32_t h = 0; h < heads; h++)
        for (int32_t x = 0; x < c->head_dim; x++) {
          double v = bias[((s / block) * heads + h) * c->head_dim + x] + 0.5 * rnd_unit();
          if (c->flat) v = 0.25;
          store(c->dtype, t, (((size_t)b * len + s) * heads + h) * c->head_dim + x, quantize(v));
        }
  }
  free(bias);
  return t;
}

/* The antidiagonal definition's w[r][c] for query head h (float64). */
static void reference_w_antidiag(const est_case *c, const void *q, const void *k, int32_t h,
                                 double *w) {
  const int32_t d = c->head_dim, group = c->q_heads / c->kv_heads, S = c->stride;
  const int64_t nkb = (c->kv_len + c->block_kv - 1) / c->block_kv;
  const int64_t nqb = (c->q_len + c->block_q - 1) / c->block_q;
  const int64_t nsa = (c->q_len + S - 1) / S, nsb = (c->kv_len + S - 1) / S;
  const int64_t off = c->kv_len - c->q_len;
  const double scale = 1.0 / sqrt((double)d) / S;
  double *e = malloc(sizeof(double) * (size_t)nsb);
  memset(w, 0, sizeof(double) * (size_t)(nqb * nkb));
  for (int32_t b = 0; b < c->batch; b++)
    for (int64_t a = 0; a < nsa; a++) {
      int64_t nb = nsb;
      if (c->causal) {
        int64_t last = (S * a + S - 1 < c->q_len - 1 ? S * a + S - 1 : c->q_len - 1) + off;
        nb = last < 0 ? 0 : (last / S + 1 < nsb ? last / S + 1 : nsb);
      }
      if (nb == 0) continue;
      double mx = -INFINITY, z = 0.0;
      for (int64_t sb = 0; sb < nb; sb++) {
        double dot = 0.0;
        for (int32_t t = 0; t < S; t++) {
          int64_t i = S * a + S - 1 - t, j = S * sb + t;
          if (i >= c->q_len || j >= c->kv_len) continue;
          for (int32_t x = 0; x < d; x++)
            dot += load(c->dtype, q, (((size_t)b * c->q_len + i) * c->q_heads + h) * d + x) *
                   load(c->dtype, k, (((size_t)b * c->kv_len + j) * c->kv_heads + h / group) * d + x);
        }
        e[sb] = scale * dot;
        if (e[sb] > mx) mx = e[sb];
      }
      for (int64_t sb = 0; sb < nb; sb++) z += (e[sb] = exp(e[sb] - mx));
      int64_t r = a * S / c->block_q;
      int64_t a0 = r * (c->block_q / S), a1 = a0 + c->block_q / S < nsa ? a0 + c->block_q / S : nsa;
      for (int64_t sb = 0; sb < nb; sb++)
        w[r * nkb + sb * S / c->block_kv] += e[sb] / z / (double)(a1 - a0) / c->batch;
    }
  free(e);
}

/* The definition's w[r][c] for query head h (float64, from scratch). */
static void reference_w(const est_case *c, const void *q, const void *k, int32_t h, double *w) {
  const int32_t d = c->head_dim, group = c->q_heads / c->kv_heads;
  const int64_t nqb = (c->q_len + c->block_q - 1) / c->block_q;
  const int64_t nkb = (c->kv_len + c->block_kv - 1) / c->block_kv;
  const int64_t off = c->kv_len - c->q_len;
  const double scale = 1.0 / sqrt((double)d);
  if (c->method == SPARSA_ESTIMATOR_ANTIDIAGONAL) {
    reference_w_antidiag(c, q, k, h, w);
    return;
  }
  /* Pooled means of every step-th row of a block (step 1: every row). */
  const int64_t step = c->stride > 0 ? c->stride : 1;
  double *qm = calloc((size_t)d, sizeof(double)), *km = calloc((size_t)(nkb * d), sizeof(double));
  double *s = malloc(sizeof(double) * (size_t)nkb);
  memset(w, 0, sizeof(double) * (size_t)(nqb * nkb));
  for (int32_t b = 0; b < c->batch; b++) {
    for (int64_t cb = 0; cb < nkb; cb++) {
      int64_t j0 = cb * c->block_kv, j1 = j0 + c->block_kv < c->kv_len ? j0 + c->block_kv : c->kv_len;
      for (int32_t x = 0; x < d; x++) {
        double sum = 0.0;
        int64_t rows = 0;
        for (int64_t j = j0; j < j1; j += step, rows++)
          sum += load(c->dtype, k, (((size_t)b * c->kv_len + j) * c->kv_heads + h / group) * d + x);
        km[cb * d + x] = sum / (double)rows;
      }
    }
    for (int64_t r = 0; r < nqb; r++) {
      int64_t i0 = r * c->block_q, i1 = i0 + c->block_q < c->q_len ? i0 + c->block_q : c->q_len;
      int64_t n = nkb;
      if (c->causal) {
        int64_t last = i1 - 1 + off;
        n = last < 0 ? 0 : last / c->block_kv + 1;
        if (n > nkb) n = nkb;
      }
      if (n == 0) continue;
      for (int32_t x = 0; x < d; x++) {
        double sum = 0.0;
        int64_t rows = 0;
        for (int64_t i = i0; i < i1; i += step, rows++)
          sum += load(c->dtype, q, (((size_t)b * c->q_len + i) * c->q_heads + h) * d + x);
        qm[x] = sum / (double)rows;
      }
      double mx = -INFINITY, z = 0.0;
      for (int64_t cb = 0; cb < n; cb++) {
        double dot = 0.0;
        for (int32_t x = 0; x < d; x++) dot += qm[x] * km[cb * d + x];
        s[cb] = scale * dot;
        if (s[cb] > mx) mx = s[cb];
      }
      for (int64_t cb = 0; cb < n; cb++) z += (s[cb] = exp(s[cb] - mx));
      for (int64_t cb = 0; cb < n; cb++) w[r * nkb + cb] += s[cb] / z / c->batch;
    }
  }
  free(qm);
  free(km);
  free(s);
}

typedef struct bsr {
  int64_t *row_ptr;
  int32_t *col;
  uint8_t *full;
  int64_t n;
} bsr;

static int bsr_get(const sparsa_mask *m, int32_t h, int64_t rows, bsr *out) {
  memset(out, 0, sizeof *out);
  if (sparsa_mask_export_bsr(m, h, NULL, NULL, NULL, 0, &out->n) != SPARSA_OK) return 0;
  out->row_ptr = malloc(sizeof(int64_t) * (size_t)(rows + 1));
  out->col = malloc(sizeof(int32_t) * (size_t)(out->n + 1));
  out->full = malloc((size_t)out->n + 1);
  return sparsa_mask_export_bsr(m, h, out->row_ptr, out->col, out->full, out->n, &out->n) ==
         SPARSA_OK;
}

static void bsr_free(bsr *b) {
  free(b->row_ptr);
  free(b->col);
  free(b->full);
}

/* Head h of the GPU's mask answers every per-head query as the CPU's
 * does. The GPU's block masks are made from the device's lists, their
 * patterns derived on request (the token densities ask first); the same
 * selections must give the same visible tokens, not only blocks. */
static int same_queries(const sparsa_mask *mc, const sparsa_mask *mg, int32_t h) {
  int64_t fc = -1, pc = -1, fg = -2, pg = -2;
  double dc = -1.0, dg = -2.0, tc = -1.0, tg = -2.0;
  int ok = sparsa_mask_block_counts(mc, h, &fc, &pc) == SPARSA_OK &&
           sparsa_mask_block_counts(mg, h, &fg, &pg) == SPARSA_OK &&
           sparsa_mask_density(mc, h, &dc) == SPARSA_OK &&
           sparsa_mask_density(mg, h, &dg) == SPARSA_OK &&
           sparsa_mask_token_density(mc, h, &tc) == SPARSA_OK &&
           sparsa_mask_token_density(mg, h, &tg) == SPARSA_OK;
  if (!ok || fc != fg || pc != pg || dc != dg || tc != tg) {
    printf("  FAIL: head %d: full/partial blocks GPU %lld/%lld, CPU %lld/%lld; density GPU %.9f, "
           "CPU %.9f; token density GPU %.9f, CPU %.9f%s%s\n",
           h, (long long)fg, (long long)pg, (long long)fc, (long long)pc, dg, dc, tg, tc,
           ok ? "" : ": ", ok ? "" : sparsa_last_error());
    return 0;
  }
  return 1;
}

/* The masks' whole-mask queries agree (counts, densities over all heads). */
static int same_info(const sparsa_mask *mc, const sparsa_mask *mg) {
  sparsa_mask_info a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.struct_size = b.struct_size = (uint32_t)sizeof a;
  double dc = -1.0, dg = -2.0, tc = -1.0, tg = -2.0;
  int ok = sparsa_mask_get_info(mc, &a) == SPARSA_OK && sparsa_mask_get_info(mg, &b) == SPARSA_OK &&
           sparsa_mask_density(mc, -1, &dc) == SPARSA_OK &&
           sparsa_mask_density(mg, -1, &dg) == SPARSA_OK &&
           sparsa_mask_token_density(mc, -1, &tc) == SPARSA_OK &&
           sparsa_mask_token_density(mg, -1, &tg) == SPARSA_OK;
  if (!ok || memcmp(&a, &b, sizeof a) != 0 || dc != dg || tc != tg) {
    printf("  FAIL: mask info: GPU %d heads %lldx%lld blocks, %lld full, %lld partial; CPU %d heads "
           "%lldx%lld, %lld full, %lld partial; densities GPU %.9f/%.9f, CPU %.9f/%.9f\n",
           (int)b.num_heads, (long long)b.num_q_blocks, (long long)b.num_kv_blocks,
           (long long)b.num_full_blocks, (long long)b.num_partial_blocks, (int)a.num_heads,
           (long long)a.num_q_blocks, (long long)a.num_kv_blocks, (long long)a.num_full_blocks,
           (long long)a.num_partial_blocks, dg, tg, dc, tc);
    return 0;
  }
  return 1;
}

/* The mask of mc's blocks (every head; with c->causal, intersected with
 * causal) made from patterns on ctx, as a caller would describe it. */
static int pattern_mask(const est_case *c, const sparsa_mask *mc, sparsa_context *ctx,
                        sparsa_mask **out) {
  const int64_t nqb = (c->q_len + c->block_q - 1) / c->block_q;
  sparsa_pattern **pats = calloc((size_t)c->q_heads, sizeof *pats);
  sparsa_pattern *causal = NULL;
  int ok = pats != NULL && sparsa_pattern_create_causal(&causal) == SPARSA_OK;
  for (int32_t h = 0; h < c->q_heads && ok; h++) {
    bsr b;
    sparsa_pattern *blocks = NULL;
    ok = bsr_get(mc, h, nqb, &b) &&
         sparsa_pattern_create_blocks_bsr(c->block_q, c->block_kv, nqb, b.row_ptr, b.col,
                                          &blocks) == SPARSA_OK;
    const sparsa_pattern *parts[2] = {blocks, causal};
    if (ok && c->causal)
      ok = sparsa_pattern_create_intersection(parts, 2, &pats[h]) == SPARSA_OK;
    else if (ok)
      pats[h] = blocks, blocks = NULL;
    sparsa_pattern_destroy(blocks);
    bsr_free(&b);
  }
  if (ok) {
    sparsa_mask_desc desc;
    sparsa_mask_desc_init(&desc);
    desc.num_heads = c->q_heads;
    desc.q_len = c->q_len;
    desc.kv_len = c->kv_len;
    desc.block_q = c->block_q;
    desc.block_kv = c->block_kv;
    desc.patterns = (const sparsa_pattern *const *)pats;
    ok = sparsa_mask_create(ctx, &desc, out) == SPARSA_OK;
  }
  for (int32_t h = 0; pats != NULL && h < c->q_heads; h++) sparsa_pattern_destroy(pats[h]);
  free(pats);
  sparsa_pattern_destroy(causal);
  return ok;
}

/* Runs plan on the device buffers into a fresh poisoned output; 1 when it
 * equals want (ob bytes) bit for bit. */
static int same_output(const sparsa_plan *plan, void *dq, void *dk, void *dv, const void *want,
                       size_t ob, const char *what) {
  void *dout = NULL, *got = malloc(ob);
  int ok = got != NULL && cudaMalloc(&dout, ob) == cudaSuccess &&
           cudaMemset(dout, 0xFF, ob) == cudaSuccess &&
           sparsa_execute(plan, dq, dk, dv, dout, NULL, NULL, 0) == SPARSA_OK &&
           sparsa_context_synchronize(g_gpu) == SPARSA_OK &&
           cudaMemcpy(got, dout, ob, cudaMemcpyDeviceToHost) == cudaSuccess;
  if (!ok) printf("  FAIL: executing %s: %s\n", what, sparsa_last_error());
  if (ok && memcmp(got, want, ob) != 0) {
    printf("  FAIL: %s: the output differs from the plan on the listed mask\n", what);
    ok = 0;
  }
  cudaFree(dout);
  free(got);
  return ok;
}

/* A plan on m made with the engine's test variable `name` set to value,
 * run as same_output runs it. */
static int same_output_with(const sparsa_problem *p, const sparsa_mask *m, const char *name,
                            const char *value, void *dq, void *dk, void *dv, const void *want,
                            size_t ob, const char *what) {
  sparsa_plan *plan = NULL;
  setenv(name, value, 1);
  int ok = sparsa_plan_create(g_gpu, p, m, &plan) == SPARSA_OK;
  unsetenv(name);
  if (!ok) printf("  FAIL: planning %s: %s\n", what, sparsa_last_error());
  ok = ok && same_output(plan, dq, dk, dv, want, ob, what);
  sparsa_plan_destroy(plan);
  return ok;
}

/* A plan made on a fresh estimate, before any host query has read its
 * lists (the engine plans from the lists on its device), runs as the plan
 * on the same estimate made after its host lists were read (out_g), as
 * one whose partial blocks' bits come from the rule evaluator's jobs and,
 * for the block methods, as one on the mask a caller would build from
 * those blocks' patterns; the same block count; and the mask's host
 * lists, read after the plan, are the CPU engine's. */
static int lazy_plan(const est_case *c, const sparsa_problem *p, const sparsa_estimator *est,
                     void *dq, void *dk, void *dv, const void *out_g, size_t ob,
                     const sparsa_mask *mc, int64_t want_blocks) {
  const int64_t nqb = (c->q_len + c->block_q - 1) / c->block_q;
  sparsa_mask *lazy = NULL, *built = NULL;
  sparsa_plan *pl = NULL, *pb = NULL;
  int64_t blocks = -1;
  int ok = sparsa_mask_estimate(g_gpu, est, p, dq, dk, &lazy) == SPARSA_OK &&
           sparsa_plan_create(g_gpu, p, lazy, &pl) == SPARSA_OK &&
           sparsa_plan_num_blocks(pl, &blocks) == SPARSA_OK;
  if (!ok) printf("  FAIL: planning a fresh estimate: %s\n", sparsa_last_error());
  if (ok && blocks != want_blocks) {
    printf("  FAIL: the plan on a fresh estimate runs %lld blocks, on a read one %lld\n",
           (long long)blocks, (long long)want_blocks);
    ok = 0;
  }
  ok = ok && same_output(pl, dq, dk, dv, out_g, ob, "the plan on a fresh estimate");
  /* The same plan with the estimate's device lists read in two copies
   * (3 blocks with the row offsets, the rest after them), and with the
   * partial blocks' bits from the rule evaluator's jobs where a
   * vertical-slash plan makes them from the list and its maps. */
  ok = ok && same_output_with(p, lazy, "SPARSA_CUDA_HELD_FIRST_READ", "3", dq, dk, dv, out_g, ob,
                              "the plan on lists read in two copies");
  ok = ok && same_output_with(p, lazy, "SPARSA_CUDA_BITS", "jobs", dq, dk, dv, out_g, ob,
                              "the plan with the rules' bits");
  /* Vertical-slash: the bits from the list with maps made from the rules
   * (the specs' columns and offsets) instead of the estimate's own. */
  if (c->method == SPARSA_ESTIMATOR_VERTICAL_SLASH)
    ok = ok && same_output_with(p, lazy, "SPARSA_CUDA_BITS", "rules", dq, dk, dv, out_g, ob,
                                "the plan with maps from the rules");
  if (ok && c->method != SPARSA_ESTIMATOR_VERTICAL_SLASH) {
    ok = pattern_mask(c, mc, g_gpu, &built) && sparsa_plan_create(g_gpu, p, built, &pb) == SPARSA_OK;
    if (!ok) printf("  FAIL: planning the mask of the estimate's patterns: %s\n", sparsa_last_error());
    ok = ok && same_output(pb, dq, dk, dv, out_g, ob, "the plan on the estimate's patterns");
  }
  for (int32_t h = 0; h < c->q_heads && ok; h++) {
    bsr a, b;
    ok = bsr_get(mc, h, nqb, &a) && bsr_get(lazy, h, nqb, &b) && a.n == b.n &&
         memcmp(a.row_ptr, b.row_ptr, sizeof(int64_t) * (size_t)(nqb + 1)) == 0 &&
         memcmp(a.col, b.col, sizeof(int32_t) * (size_t)a.n) == 0 &&
         memcmp(a.full, b.full, (size_t)a.n) == 0;
    if (!ok) printf("  FAIL: head %d: the planned estimate's host lists differ from the CPU's\n", h);
    bsr_free(&a);
    bsr_free(&b);
  }
  ok = ok && same_info(mc, lazy);
  sparsa_plan_destroy(pl);
  sparsa_plan_destroy(pb);
  sparsa_mask_destroy(lazy);
  sparsa_mask_destroy(built);
  return ok;
}

/* A case's problem and estimator, and its q and k on the host and on the
 * device (bytes qb and kb), with `nans`, a NaN in k in every third key
 * block; the caller frees the four buffers. */
typedef struct case_inputs {
  sparsa_problem p;
  sparsa_estimator est;
  void *q, *k, *dq, *dk;
  size_t qb, kb;
} case_inputs;

static int case_inputs_make(const est_case *c, int nans, case_inputs *in) {
  memset(in, 0, sizeof *in);
  sparsa_problem_init(&in->p);
  in->p.dtype = c->dtype;
  in->p.batch = c->batch;
  in->p.q_heads = c->q_heads;
  in->p.kv_heads = c->kv_heads;
  in->p.head_dim = c->head_dim;
  in->p.q_len = c->q_len;
  in->p.kv_len = c->kv_len;
  sparsa_estimator *est = &in->est;
  sparsa_estimator_init(est, c->method);
  if (c->method != SPARSA_ESTIMATOR_VERTICAL_SLASH && c->stride > 0) est->stride = c->stride;
  if (c->last_q > 0) est->last_q = c->last_q;
  est->block_q = c->block_q;
  est->block_kv = c->block_kv;
  est->selection = c->selection;
  est->top_k = c->top_k;
  est->threshold = c->threshold;
  est->causal = c->causal;
  est->keep_sink_blocks = c->sinks;
  est->keep_diagonal = c->diagonal;
  in->q = make_tensor(c, c->q_len, c->q_heads, c->block_q);
  in->k = make_tensor(c, c->kv_len, c->kv_heads, c->block_kv);
  /* A positive quiet NaN in one element of the first token of every third
   * key block (the element moves with the token). */
  const size_t row = (size_t)c->kv_heads * c->head_dim;
  for (int32_t b = 0; b < c->batch && nans; b++)
    for (int64_t s = 0; s < c->kv_len; s += 3 * c->block_kv) {
      const size_t at = ((size_t)b * c->kv_len + s) * row + (size_t)s % row;
      if (c->dtype == SPARSA_DTYPE_F32) ((float *)in->k)[at] = NAN;
      else ((uint16_t *)in->k)[at] = c->dtype == SPARSA_DTYPE_BF16 ? 0x7fc0 : 0x7e00;
    }
  in->qb = (size_t)c->batch * c->q_len * c->q_heads * c->head_dim * esize(c->dtype);
  in->kb = (size_t)c->batch * c->kv_len * c->kv_heads * c->head_dim * esize(c->dtype);
  CHECK(cudaMalloc(&in->dq, in->qb) == cudaSuccess && cudaMalloc(&in->dk, in->kb) == cudaSuccess,
        "device buffers");
  CHECK(cudaMemcpy(in->dq, in->q, in->qb, cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(in->dk, in->k, in->kb, cudaMemcpyHostToDevice) == cudaSuccess,
        "copies to the device");
  return 1;
}

/* Blocks, mass and (for bf16/f16 at d64/d128) a GPU plan of the estimate. */
static int run_case(const est_case *c) {
  case_inputs in;
  if (!case_inputs_make(c, 0, &in)) return 0;
  sparsa_problem p = in.p;
  sparsa_estimator est = in.est;
  void *q = in.q, *k = in.k, *dq = in.dq, *dk = in.dk;
  const size_t qb = in.qb, kb = in.kb;
  sparsa_mask *mc = NULL, *mg = NULL;
  sparsa_status st = sparsa_mask_estimate(g_cpu, &est, &p, q, k, &mc);
  CHECK(st == SPARSA_OK, "CPU estimate: %s", sparsa_last_error());
  st = sparsa_mask_estimate(g_gpu, &est, &p, dq, dk, &mg);
  CHECK(st == SPARSA_OK, "GPU estimate: %s: %s", sparsa_status_string(st), sparsa_last_error());

  const int64_t nqb = (c->q_len + c->block_q - 1) / c->block_q;
  const int64_t nkb = (c->kv_len + c->block_kv - 1) / c->block_kv;
  const int64_t off = c->kv_len - c->q_len;
  double *w = malloc(sizeof(double) * (size_t)(nqb * nkb));
  double mass_cpu = 0.0, mass_gpu = 0.0, min_row_mass = INFINITY;
  int64_t blocks = 0;
  int ok = 1;
  for (int32_t h = 0; h < c->q_heads && ok; h++) {
    bsr a, b;
    if (!bsr_get(mc, h, nqb, &a) || !bsr_get(mg, h, nqb, &b)) {
      printf("  FAIL: exporting head %d: %s\n", h, sparsa_last_error());
      ok = 0;
    }
    int same = ok && a.n == b.n &&
               memcmp(a.row_ptr, b.row_ptr, sizeof(int64_t) * (size_t)(nqb + 1)) == 0 &&
               memcmp(a.col, b.col, sizeof(int32_t) * (size_t)a.n) == 0 &&
               memcmp(a.full, b.full, (size_t)a.n) == 0;
    if (ok && !same) {
      printf("  FAIL: head %d: the GPU kept %lld blocks, the CPU %lld\n", h, (long long)b.n,
             (long long)a.n);
      for (int64_t r = 0; r < nqb; r++) {
        int64_t la = a.row_ptr[r + 1] - a.row_ptr[r], lb = b.row_ptr[r + 1] - b.row_ptr[r];
        if (la == lb && memcmp(a.col + a.row_ptr[r], b.col + b.row_ptr[r], 4 * (size_t)la) == 0)
          continue;
        printf("    row %lld: CPU", (long long)r);
        for (int64_t e = a.row_ptr[r]; e < a.row_ptr[r + 1]; e++) printf(" %d", a.col[e]);
        printf(" | GPU");
        for (int64_t e = b.row_ptr[r]; e < b.row_ptr[r + 1]; e++) printf(" %d", b.col[e]);
        printf("\n");
        break;
      }
      ok = 0;
    }
    if (ok && !same_queries(mc, mg, h)) ok = 0;
    if (ok && c->method == SPARSA_ESTIMATOR_VERTICAL_SLASH) {
      blocks += b.n;
    } else if (ok) {
      reference_w(c, q, k, h, w);
      for (int64_t r = 0; r < nqb; r++) {
        double row_cpu = 0.0, row_gpu = 0.0, row_total = 0.0;
        for (int64_t cb = 0; cb < nkb; cb++) row_total += w[r * nkb + cb];
        for (int64_t e = a.row_ptr[r]; e < a.row_ptr[r + 1]; e++) row_cpu += w[r * nkb + a.col[e]];
        for (int64_t e = b.row_ptr[r]; e < b.row_ptr[r + 1]; e++) row_gpu += w[r * nkb + b.col[e]];
        mass_cpu += row_cpu;
        mass_gpu += row_gpu;
        int64_t last = (r + 1) * c->block_q < c->q_len ? (r + 1) * c->block_q - 1 : c->q_len - 1;
        int has_keys = !c->causal || last + off >= 0;
        if (has_keys && row_gpu < min_row_mass) min_row_mass = row_gpu;
        /* The antidiagonal method scores with float dot products. */
        double tol = c->method == SPARSA_ESTIMATOR_ANTIDIAGONAL ? 1e-5 : 1e-9;
        /* A row whose scores sum below the threshold keeps them all. */
        double target = row_total < c->threshold ? row_total : c->threshold;
        if (has_keys && c->selection == SPARSA_SELECT_THRESHOLD && row_gpu < target - tol) {
          printf("  FAIL: head %d row %lld keeps mass %.6f < threshold %.3f\n", h, (long long)r,
                 row_gpu, (double)c->threshold);
          ok = 0;
          break;
        }
      }
      blocks += b.n;
    }
    bsr_free(&a);
    bsr_free(&b);
  }
  if (ok && !same_info(mc, mg)) ok = 0;
  if (ok && fabs(mass_cpu - mass_gpu) > 1e-9 * (1.0 + mass_cpu)) {
    printf("  FAIL: captured mass GPU %.12f, CPU %.12f\n", mass_gpu, mass_cpu);
    ok = 0;
  }

  /* The estimate plans and runs on the GPU like any mask. */
  int planned = 0;
  if (ok && c->dtype != SPARSA_DTYPE_F32 && (c->head_dim == 64 || c->head_dim == 128)) {
    sparsa_plan *pg = NULL, *pc = NULL;
    void *v = make_tensor(c, c->kv_len, c->kv_heads, c->block_kv);
    size_t ob = qb;
    void *dv = NULL, *dout = NULL, *out_g = malloc(ob), *out_c = malloc(ob);
    st = sparsa_plan_create(g_gpu, &p, mg, &pg);
    if (st == SPARSA_OK) st = sparsa_plan_create(g_cpu, &p, mc, &pc);
    if (st == SPARSA_OK && (cudaMalloc(&dv, kb) != cudaSuccess || cudaMalloc(&dout, ob) != cudaSuccess ||
                            cudaMemcpy(dv, v, kb, cudaMemcpyHostToDevice) != cudaSuccess ||
                            cudaMemset(dout, 0xFF, ob) != cudaSuccess))
      st = SPARSA_ERR_INTERNAL;
    if (st == SPARSA_OK) st = sparsa_execute(pg, dq, dk, dv, dout, NULL, NULL, 0);
    if (st == SPARSA_OK) st = sparsa_context_synchronize(g_gpu);
    if (st == SPARSA_OK) st = sparsa_execute(pc, q, k, v, out_c, NULL, NULL, 0);
    if (st == SPARSA_OK && cudaMemcpy(out_g, dout, ob, cudaMemcpyDeviceToHost) != cudaSuccess)
      st = SPARSA_ERR_INTERNAL;
    double err = 0.0;
    int finite = 1;
    if (st == SPARSA_OK) {
      for (size_t i = 0; i < ob / 2; i++) {
        double g = load(c->dtype, out_g, i), cc = load(c->dtype, out_c, i);
        if (!isfinite(g)) finite = 0;
        if (fabs(g - cc) > err) err = fabs(g - cc);
      }
    }
    /* |values| < 2: a few units of the last place of bf16 at most. */
    if (st != SPARSA_OK || !finite || err > 4e-2) {
      printf("  FAIL: executing the estimated mask: %s (max |GPU - CPU| %.3g%s)\n",
             st == SPARSA_OK ? "ok" : sparsa_last_error(), err, finite ? "" : ", non-finite");
      ok = 0;
    }
    int64_t want_blocks = -1;
    if (ok && (sparsa_plan_num_blocks(pg, &want_blocks) != SPARSA_OK ||
               !lazy_plan(c, &p, &est, dq, dk, dv, out_g, ob, mc, want_blocks)))
      ok = 0;
    planned = 1;
    cudaFree(dv);
    cudaFree(dout);
    free(out_g);
    free(out_c);
    free(v);
    sparsa_plan_destroy(pg);
    sparsa_plan_destroy(pc);
  }
  printf("%-40s %lld blocks, mass %.4f (min row %.4f)%s %s\n", c->name, (long long)blocks,
         mass_gpu / (double)(nqb * c->q_heads), min_row_mass, planned ? ", planned" : "",
         ok ? "ok" : "FAILED");
  free(w);
  sparsa_mask_destroy(mc);
  sparsa_mask_destroy(mg);
  cudaFree(dq);
  cudaFree(dk);
  free(q);
  free(k);
  return ok;
}

/* ---- selections in chunks of heads ----
 * Large problems select a block method's rows a chunk of heads at a time
 * (scratch bounds a chunk), each chunk's fill continuing the mask's lists
 * after the chunks before it. A test variable of the engine bounds the
 * chunks so that these small problems take that path: the same blocks as
 * the CPU engine's, planned and run, as in run_case. */
static int test_chunked_lists(void) {
  static const struct {
    est_case c;
    const char *heads; /* a chunk's */
  } cases[] = {
      {{"chunks of 3: f16 b2 8/2 d128 777x1200 top5", SPARSA_DTYPE_F16, 2, 8, 2, 128, 777, 1200, 32,
        64, SPARSA_SELECT_TOP_K, 5, 0.95f, 1, 2, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
       "3"},
      {{"chunks of 5: bf16 32/8 d128 4096 thr0.9", SPARSA_DTYPE_BF16, 1, 32, 8, 128, 4096, 4096, 64,
        64, SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
       "5"},
      {{"chunks of 1: antidiag bf16 4/2 d64 600x900 S8 thr0.9", SPARSA_DTYPE_BF16, 1, 4, 2, 64, 600,
        900, 64, 64, SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 8, 0,
        0},
       "1"},
      /* 62 heads of 138 rows (8,556: offsets by the scan kernel), then 2
       * (276: by the fill's own sums). */
      {{"chunks of 62: bf16 64/8 d64 2200 16x16 top9", SPARSA_DTYPE_BF16, 1, 64, 8, 64, 2200, 2200,
        16, 16, SPARSA_SELECT_TOP_K, 9, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
       "62"},
  };
  int ok = 1;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    setenv("SPARSA_CUDA_ESTIMATE_CHUNK_HEADS", cases[i].heads, 1);
    ok &= run_case(&cases[i].c);
    unsetenv("SPARSA_CUDA_ESTIMATE_CHUNK_HEADS");
  }
  return ok;
}

/* ---- errors ---- */

static int test_errors(void) {
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = SPARSA_DTYPE_BF16;
  p.batch = 1;
  p.q_heads = p.kv_heads = 2;
  p.head_dim = 64;
  p.q_len = p.kv_len = 256;
  static uint16_t host[256 * 2 * 64];
  void *dev = NULL;
  CHECK(cudaMalloc(&dev, sizeof host) == cudaSuccess, "device buffer");
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  sparsa_mask *m = NULL;
  sparsa_status st = sparsa_mask_estimate(g_gpu, &est, &p, host, dev, &m);
  CHECK(st == SPARSA_ERR_INVALID_ARGUMENT && m == NULL && strstr(sparsa_last_error(), "host memory"),
        "host q on a CUDA context: %s '%s'", sparsa_status_string(st), sparsa_last_error());
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_VERTICAL_SLASH);
  est.causal = 0;
  st = sparsa_mask_estimate(g_gpu, &est, &p, dev, dev, &m);
  CHECK(st == SPARSA_ERR_UNSUPPORTED && m == NULL && strstr(sparsa_last_error(), "causal"),
        "non-causal vertical-slash: %s '%s'", sparsa_status_string(st), sparsa_last_error());
  cudaFree(dev);
  printf("%-40s ok\n", "estimator error paths");
  return 1;
}

/* ---- NaN scores ---- */

/* Keys with a NaN (a positive quiet one) in every third key block make
 * NaN scores: a top-k row still keeps exactly k blocks (no sinks, no
 * diagonal) and a threshold row at least one, on both engines, only
 * admissible ones. The rank, sort (threshold) and radix paths of the
 * device's row selection each meet them; the sort pads past the row with
 * entries that must stay behind every candidate (the GPU check runs this
 * under compute-sanitizer). Which NaN ranks where may differ between the
 * engines (the device's arithmetic makes canonical NaNs), so the blocks
 * are not compared. */
static int nan_case(const est_case *c) {
  case_inputs in;
  if (!case_inputs_make(c, 1, &in)) return 0;
  sparsa_mask *masks[2] = {NULL, NULL};
  sparsa_status st = sparsa_mask_estimate(g_cpu, &in.est, &in.p, in.q, in.k, &masks[0]);
  CHECK(st == SPARSA_OK, "CPU estimate: %s", sparsa_last_error());
  st = sparsa_mask_estimate(g_gpu, &in.est, &in.p, in.dq, in.dk, &masks[1]);
  CHECK(st == SPARSA_OK, "GPU estimate: %s: %s", sparsa_status_string(st), sparsa_last_error());
  const int64_t nqb = (c->q_len + c->block_q - 1) / c->block_q;
  const int64_t nkb = (c->kv_len + c->block_kv - 1) / c->block_kv;
  int ok = 1;
  for (int e = 0; e < 2 && ok; e++)
    for (int32_t h = 0; h < c->q_heads && ok; h++) {
      bsr m;
      if (!bsr_get(masks[e], h, nqb, &m)) {
        printf("  FAIL: exporting head %d: %s\n", h, sparsa_last_error());
        ok = 0;
      }
      for (int64_t r = 0; r < nqb && ok && c->method != SPARSA_ESTIMATOR_VERTICAL_SLASH; r++) {
        int64_t n = nkb;
        if (c->causal) {
          const int64_t end = (r + 1) * c->block_q < c->q_len ? (r + 1) * c->block_q : c->q_len;
          const int64_t last = end - 1 + c->kv_len - c->q_len;
          n = last < 0 ? 0 : (last / c->block_kv + 1 < nkb ? last / c->block_kv + 1 : nkb);
        }
        const int64_t count = m.row_ptr[r + 1] - m.row_ptr[r];
        const int64_t want = c->top_k < n ? c->top_k : n;
        int admissible = 1;
        for (int64_t i = m.row_ptr[r]; i < m.row_ptr[r + 1]; i++) admissible &= m.col[i] < n;
        if (!admissible || (c->selection == SPARSA_SELECT_TOP_K ? count != want
                                                                : (n > 0 && count < 1) || count > n)) {
          printf("  FAIL: %s head %d row %lld: %lld blocks of %lld admissible%s\n",
                 e ? "GPU" : "CPU", h, (long long)r, (long long)count, (long long)n,
                 admissible ? "" : ", one past them");
          ok = 0;
        }
      }
      bsr_free(&m);
    }
  printf("%-40s %s\n", c->name, ok ? "ok" : "FAILED");
  sparsa_mask_destroy(masks[0]);
  sparsa_mask_destroy(masks[1]);
  cudaFree(in.dq);
  cudaFree(in.dk);
  free(in.q);
  free(in.k);
  return ok;
}

static int test_nan_scores(void) {
  static const est_case cases[] = {
      {"NaN: pooled bf16 2/1 d64 700 top3", SPARSA_DTYPE_BF16, 1, 2, 1, 64, 700, 700, 64, 64,
       SPARSA_SELECT_TOP_K, 3, 0.9f, 1, 0, 0, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"NaN: pooled f16 2/2 d64 600 thr0.9", SPARSA_DTYPE_F16, 1, 2, 2, 64, 600, 600, 32, 32,
       SPARSA_SELECT_THRESHOLD, 8, 0.9f, 0, 0, 0, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"NaN: antidiag bf16 2/2 d64 900 S8 top4", SPARSA_DTYPE_BF16, 1, 2, 2, 64, 900, 900, 64, 64,
       SPARSA_SELECT_TOP_K, 4, 0.9f, 1, 0, 0, SPARSA_ESTIMATOR_ANTIDIAGONAL, 8, 0, 0},
      {"NaN: antidiag f32 2/1 d32 500x700 S4 thr0.8", SPARSA_DTYPE_F32, 1, 2, 1, 32, 500, 700, 32,
       32, SPARSA_SELECT_THRESHOLD, 8, 0.8f, 1, 0, 0, SPARSA_ESTIMATOR_ANTIDIAGONAL, 4, 0, 0},
      {"NaN: vslash bf16 2/1 d64 300x3000 top50", SPARSA_DTYPE_BF16, 1, 2, 1, 64, 300, 3000, 32,
       32, SPARSA_SELECT_TOP_K, 50, 0.9f, 1, 0, 0, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"NaN: vslash f16 1/1 d64 200x900 thr0.9", SPARSA_DTYPE_F16, 1, 1, 1, 64, 200, 900, 64, 64,
       SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 0, 0, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
  };
  int ok = 1;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) ok &= nan_case(&cases[i]);
  return ok;
}

/* ---- the cache estimates on the device too ---- */

static int test_cache(void) {
  est_case c = {"cache", SPARSA_DTYPE_BF16, 1, 4, 2, 64, 600, 600, 64, 64,
                SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0};
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.q_heads = c.q_heads;
  p.kv_heads = c.kv_heads;
  p.head_dim = c.head_dim;
  p.q_len = c.q_len;
  p.kv_len = c.kv_len;
  void *q = make_tensor(&c, c.q_len, c.q_heads, c.block_q);
  void *k = make_tensor(&c, c.kv_len, c.kv_heads, c.block_kv);
  size_t qb = (size_t)c.q_len * c.q_heads * c.head_dim * 2, kb = (size_t)c.kv_len * c.kv_heads * c.head_dim * 2;
  void *dq = NULL, *dk = NULL;
  CHECK(cudaMalloc(&dq, qb) == cudaSuccess && cudaMalloc(&dk, kb) == cudaSuccess &&
            cudaMemcpy(dq, q, qb, cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(dk, k, kb, cudaMemcpyHostToDevice) == cudaSuccess,
        "cache test buffers");
  free(q);
  free(k);
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  est.threshold = c.threshold;
  sparsa_cache_options opts;
  sparsa_cache_options_init(&opts);
  opts.build_plans = 1;
  sparsa_cache *cache = NULL;
  CHECK(sparsa_cache_create(g_gpu, &opts, &cache) == SPARSA_OK, "cache_create: %s",
        sparsa_last_error());
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  sparsa_cache_entry *e1 = NULL, *e2 = NULL;
  sparsa_status st = sparsa_cache_acquire(cache, &key, &est, &p, dq, dk, &e1);
  CHECK(st == SPARSA_OK, "cache miss on a CUDA context: %s", sparsa_last_error());
  st = sparsa_cache_acquire(cache, &key, &est, &p, dq, dk, &e2);
  CHECK(st == SPARSA_OK, "cache hit on a CUDA context: %s", sparsa_last_error());
  sparsa_cache_stats stats;
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  CHECK(sparsa_cache_get_stats(cache, &stats) == SPARSA_OK && stats.hits == 1 && stats.misses == 1,
        "cache stats: %llu hits, %llu misses", (unsigned long long)stats.hits,
        (unsigned long long)stats.misses);
  const sparsa_mask *cached = NULL;
  const sparsa_plan *plan = NULL;
  CHECK(sparsa_cache_entry_get_mask(e1, &cached) == SPARSA_OK && cached != NULL, "entry mask");
  CHECK(sparsa_cache_entry_get_plan(e1, &plan) == SPARSA_OK && plan != NULL, "entry plan");
  sparsa_mask *direct = NULL;
  CHECK(sparsa_mask_estimate(g_gpu, &est, &p, dq, dk, &direct) == SPARSA_OK, "direct estimate: %s",
        sparsa_last_error());
  const int64_t nqb = (c.q_len + c.block_q - 1) / c.block_q;
  int ok = 1;
  for (int32_t h = 0; h < c.q_heads && ok; h++) {
    bsr a = {0}, b = {0};
    ok = bsr_get(cached, h, nqb, &a) && bsr_get(direct, h, nqb, &b) && a.n == b.n &&
         memcmp(a.col, b.col, sizeof(int32_t) * (size_t)a.n) == 0 &&
         memcmp(a.row_ptr, b.row_ptr, sizeof(int64_t) * (size_t)(nqb + 1)) == 0;
    if (!ok) printf("  FAIL: head %d: the cached mask differs from a direct GPU estimate\n", h);
    bsr_free(&a);
    bsr_free(&b);
  }
  sparsa_mask_destroy(direct);
  sparsa_cache_entry_release(e1);
  sparsa_cache_entry_release(e2);
  sparsa_cache_destroy(cache);
  cudaFree(dq);
  cudaFree(dk);
  printf("%-40s %s\n", "cache on a CUDA context", ok ? "ok" : "FAILED");
  return ok;
}

/* ---- estimation against the attention it feeds ---- */

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The mask's share of an estimate of block rows: the same mask created
 * again on ctx from its exported lists (on the CPU context the core's
 * part alone: its block lists; on the GPU one the device lists too). */
static double mask_again_ms(sparsa_context *ctx, const sparsa_mask *m, int32_t heads, int64_t n,
                            int32_t block) {
  const int64_t rows = (n + block - 1) / block;
  sparsa_pattern **pats = calloc((size_t)heads, sizeof *pats);
  sparsa_pattern *causal = NULL;
  sparsa_pattern_create_causal(&causal);
  int ok = pats != NULL && causal != NULL;
  for (int32_t h = 0; h < heads && ok; h++) {
    bsr b;
    sparsa_pattern *blocks = NULL;
    ok = bsr_get(m, h, rows, &b) &&
         sparsa_pattern_create_blocks_bsr(block, block, rows, b.row_ptr, b.col, &blocks) == SPARSA_OK;
    const sparsa_pattern *parts[2] = {blocks, causal};
    ok = ok && sparsa_pattern_create_intersection(parts, 2, &pats[h]) == SPARSA_OK;
    sparsa_pattern_destroy(blocks);
    bsr_free(&b);
  }
  double best = -1.0;
  for (int i = 0; i < 3 && ok; i++) {
    sparsa_mask_desc desc;
    sparsa_mask_desc_init(&desc);
    desc.num_heads = heads;
    desc.q_len = desc.kv_len = n;
    desc.block_q = desc.block_kv = block;
    desc.patterns = (const sparsa_pattern *const *)pats;
    sparsa_mask *again = NULL;
    double t0 = now_ms();
    ok = sparsa_mask_create(ctx, &desc, &again) == SPARSA_OK;
    double t = now_ms() - t0;
    sparsa_mask_destroy(again);
    if (ok && (best < 0.0 || t < best)) best = t;
  }
  for (int32_t h = 0; pats != NULL && h < heads; h++) sparsa_pattern_destroy(pats[h]);
  free(pats);
  sparsa_pattern_destroy(causal);
  return best;
}

typedef struct timing_case {
  const char *key;
  sparsa_estimator_method method;
  int32_t top_k;
  float threshold; /* > 0: the cumulative threshold instead of top-k */
  int32_t kv_heads; /* 32: every query head its own keys; 8: four query heads a kv head */
  int32_t stride;   /* pooled: means of every stride-th row; 0: the method's default */
  int64_t n;        /* q_len = kv_len; 0: 16384 */
} timing_case;

/* One method: the estimate (wall clock, the mask included, median of 7
 * after a warm-up) against the sparse attention its mask feeds (device
 * time, median of 10); and the estimate with the plan a caller makes on
 * its mask before executing (estimate -> plan -> execute whenever the mask
 * changes), the plan timed on each fresh mask. */
static int time_method(const timing_case *tc, void *dq, void *dk, void *dv, void *dout,
                       double *ratio, double *plan_ratio, char *json, size_t json_size) {
  const int64_t N = tc->n > 0 ? tc->n : 16384;
  const int32_t H = 32, D = 128, B = 128;
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = SPARSA_DTYPE_BF16;
  p.batch = 1;
  p.q_heads = H;
  p.kv_heads = tc->kv_heads;
  p.head_dim = D;
  p.q_len = p.kv_len = N;
  sparsa_estimator est;
  sparsa_estimator_init(&est, tc->method);
  est.block_q = est.block_kv = B;
  if (tc->stride > 0) est.stride = tc->stride;
  est.selection = tc->threshold > 0.0f ? SPARSA_SELECT_THRESHOLD : SPARSA_SELECT_TOP_K;
  est.top_k = tc->top_k;
  est.threshold = tc->threshold > 0.0f ? tc->threshold : est.threshold;
  char selection[64];
  if (tc->threshold > 0.0f)
    snprintf(selection, sizeof selection, "threshold %.2f", (double)tc->threshold);
  else
    snprintf(selection, sizeof selection, "top-%d", tc->top_k);
  if (tc->method == SPARSA_ESTIMATOR_POOLED_BLOCKS && est.stride > 1)
    snprintf(selection + strlen(selection), sizeof selection - strlen(selection),
             ", means of every %dth row", (int)est.stride);
  sparsa_mask *m = NULL;
  double t_est[7], t_plan[7], t_read[7], t_plan_read[7];
  for (int i = 0; i < 8; i++) { /* the first is a warm-up */
    sparsa_mask_destroy(m);
    m = NULL;
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "sync");
    double t0 = now_ms();
    sparsa_status st = sparsa_mask_estimate(g_gpu, &est, &p, dq, dk, &m);
    double t1 = now_ms();
    CHECK(st == SPARSA_OK, "timing estimate (%s): %s", tc->key, sparsa_last_error());
    /* What a caller runs next: a plan on the fresh mask, before anything
     * else on the host has asked for its lists. */
    sparsa_plan *fresh = NULL;
    st = sparsa_plan_create(g_gpu, &p, m, &fresh);
    double t2 = now_ms();
    CHECK(st == SPARSA_OK, "timing plan (%s): %s", tc->key, sparsa_last_error());
    sparsa_plan_destroy(fresh);
    if (i > 0) {
      t_est[i - 1] = t1 - t0;
      t_plan[i - 1] = t2 - t1;
    }
  }
  /* The first host query of a block estimate's mask reads the lists the
   * estimate left on the device side of the mask: the cost moved out of
   * the estimate, reported beside it; then a plan on that mask, whose host
   * lists are built by then (the plan of a mask some host reader touched
   * first). Each on a fresh estimate, median of 7 after a warm-up. */
  for (int i = 0; i < 8; i++) {
    sparsa_mask *again = NULL;
    CHECK(sparsa_mask_estimate(g_gpu, &est, &p, dq, dk, &again) == SPARSA_OK,
          "timing estimate (%s): %s", tc->key, sparsa_last_error());
    double d = 0.0, t0 = now_ms();
    sparsa_mask_density(again, -1, &d);
    double t1 = now_ms();
    sparsa_plan *listed = NULL;
    sparsa_status st = sparsa_plan_create(g_gpu, &p, again, &listed);
    double t2 = now_ms();
    sparsa_plan_destroy(listed);
    sparsa_mask_destroy(again);
    CHECK(st == SPARSA_OK, "timing plan (%s): %s", tc->key, sparsa_last_error());
    if (i > 0) {
      t_read[i - 1] = t1 - t0;
      t_plan_read[i - 1] = t2 - t1;
    }
  }
  double density = 0.0;
  sparsa_mask_density(m, -1, &density);
  const double read_ms = median(t_read, 7), plan_ms = median(t_plan, 7);
  const double plan_read_ms = median(t_plan_read, 7);
  const int blocks = tc->method != SPARSA_ESTIMATOR_VERTICAL_SLASH;
  double mask_ms = blocks ? mask_again_ms(g_gpu, m, H, N, B) : -1.0;
  double core_ms = blocks ? mask_again_ms(g_cpu, m, H, N, B) : -1.0;
  sparsa_plan *plan = NULL;
  CHECK(sparsa_plan_create(g_gpu, &p, m, &plan) == SPARSA_OK, "timing plan: %s", sparsa_last_error());
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess, "events");
  double t_att[10];
  for (int i = 0; i < 11; i++) {
    cudaEventRecord(e0, NULL);
    sparsa_status st = sparsa_execute(plan, dq, dk, dv, dout, NULL, NULL, 0);
    cudaEventRecord(e1, NULL);
    CHECK(st == SPARSA_OK && cudaEventSynchronize(e1) == cudaSuccess, "timing execute: %s",
          sparsa_last_error());
    float ms = 0.f;
    cudaEventElapsedTime(&ms, e0, e1);
    if (i > 0) t_att[i - 1] = ms;
  }
  double est_ms = median(t_est, 7), att_ms = median(t_att, 10);
  *ratio = est_ms / att_ms;
  *plan_ratio = (est_ms + plan_ms) / att_ms;
  printf("estimate vs attention, %s: N=%lld %d/%d heads d%d bf16, causal, %dx%d blocks, %s, "
         "density %.3f: estimate %.3f ms (wall clock, mask included; its first host query "
         "%.3f ms; the same mask created again from its lists: %.3f ms, of which the core's "
         "block lists %.3f ms), attention %.3f ms: %.3f; a plan on the fresh mask %.3f ms "
         "(%.3f ms once a host query has read its lists): estimate and plan vs attention "
         "%.3f\n",
         tc->key, (long long)N, H, tc->kv_heads, D, B, B, selection, density, est_ms, read_ms,
         mask_ms, core_ms, att_ms, *ratio, plan_ms, plan_read_ms, *plan_ratio);
  snprintf(json, json_size,
           "\"estimate_ms_%s\": %.4f, \"attention_ms_%s\": %.4f, \"estimate_density_%s\": %.4f, "
           "\"mask_again_ms_%s\": %.4f, \"mask_core_ms_%s\": %.4f, "
           "\"first_query_ms_%s\": %.4f, \"estimate_vs_attention_%s\": %.4f, "
           "\"plan_ms_%s\": %.4f, \"plan_after_query_ms_%s\": %.4f, "
           "\"estimate_and_plan_vs_attention_%s\": %.4f",
           tc->key, est_ms, tc->key, att_ms, tc->key, density, tc->key, mask_ms, tc->key, core_ms,
           tc->key, read_ms, tc->key, *ratio, tc->key, plan_ms, tc->key, plan_read_ms, tc->key,
           *plan_ratio);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  sparsa_plan_destroy(plan);
  sparsa_mask_destroy(m);
  return 1;
}

/* The pooled estimate at a long context, N = 65,536 (q, k and v four
 * copies of the 16,384-token ones, one after another): 512 key blocks a
 * row, top-48 plus the sink and diagonal blocks (~9% of the blocks), and
 * more heads than the selection's scratch holds at once, so that its
 * chunks are timed too. Skipped (not failed) where the device lacks the
 * 2 GiB. */
static int timing_long(const void *dq16, const void *dk16, size_t bytes16, char *json,
                       size_t json_size, size_t *used) {
  static const timing_case tc = {"pooled_64k", SPARSA_ESTIMATOR_POOLED_BLOCKS, 48, 0.0f, 32, 0,
                                 65536};
  const int copies = (int)(tc.n / 16384);
  void *dq = NULL, *dk = NULL, *dv = NULL, *dout = NULL;
  const size_t bytes = bytes16 * (size_t)copies;
  int have = cudaMalloc(&dq, bytes) == cudaSuccess && cudaMalloc(&dk, bytes) == cudaSuccess &&
             cudaMalloc(&dv, bytes) == cudaSuccess && cudaMalloc(&dout, bytes) == cudaSuccess;
  for (int i = 0; i < copies && have; i++) {
    const size_t at = (size_t)i * bytes16;
    have = cudaMemcpy((char *)dq + at, dq16, bytes16, cudaMemcpyDeviceToDevice) == cudaSuccess &&
           cudaMemcpy((char *)dk + at, dk16, bytes16, cudaMemcpyDeviceToDevice) == cudaSuccess &&
           cudaMemcpy((char *)dv + at, dk16, bytes16, cudaMemcpyDeviceToDevice) == cudaSuccess;
  }
  int ok = 1;
  if (!have) {
    cudaGetLastError(); /* not sticky: clear it */
    printf("estimate vs attention, %s: skipped (device memory)\n", tc.key);
  } else {
    double r = -1.0, rp = -1.0;
    char part[1024];
    ok = time_method(&tc, dq, dk, dv, dout, &r, &rp, part, sizeof part);
    if (ok) *used += (size_t)snprintf(json + *used, json_size - *used, ", %s", part);
  }
  cudaFree(dq);
  cudaFree(dk);
  cudaFree(dv);
  cudaFree(dout);
  return ok;
}

/* Every method at N = 16384, 32 heads, d128, bf16, 128 x 128 blocks,
 * causal, ~10% of all blocks (top-11 plus the sink and diagonal blocks for
 * the block methods; top-512 columns and offsets for vertical-slash), and
 * vertical-slash by a cumulative threshold; each with 32 kv heads, then
 * with 8 (grouped queries, four a kv head: keys a quarter of the bytes,
 * the attention's work the same). */
static int timing(double *ratio, double *plan_ratio, char *json, size_t json_size) {
  const int64_t N = 16384;
  const int32_t H = 32, D = 128;
  est_case c = {"timing", SPARSA_DTYPE_BF16, 1, H, H, D, N, N, 128, 128,
                SPARSA_SELECT_TOP_K, 0, 0.0f, 0, 0, 0, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0};
  size_t bytes = (size_t)N * H * D * 2;
  const int32_t H_GROUPED = 8;
  const size_t grouped_bytes = bytes / (size_t)(H / H_GROUPED);
  void *q = make_tensor(&c, N, H, 128), *k = make_tensor(&c, N, H, 128);
  void *k8 = make_tensor(&c, N, H_GROUPED, 128);
  void *dq = NULL, *dk = NULL, *dv = NULL, *dout = NULL, *dk8 = NULL, *dv8 = NULL;
  CHECK(q != NULL && k != NULL && k8 != NULL, "timing host tensors");
  CHECK(cudaMalloc(&dq, bytes) == cudaSuccess && cudaMalloc(&dk, bytes) == cudaSuccess &&
            cudaMalloc(&dv, bytes) == cudaSuccess && cudaMalloc(&dout, bytes) == cudaSuccess &&
            cudaMalloc(&dk8, grouped_bytes) == cudaSuccess &&
            cudaMalloc(&dv8, grouped_bytes) == cudaSuccess,
        "timing buffers");
  CHECK(cudaMemcpy(dq, q, bytes, cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(dk, k, bytes, cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(dv, k, bytes, cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(dk8, k8, grouped_bytes, cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(dv8, k8, grouped_bytes, cudaMemcpyHostToDevice) == cudaSuccess,
        "timing copies");
  free(q);
  free(k);
  free(k8);
  static const timing_case cases[] = {
      {"pooled", SPARSA_ESTIMATOR_POOLED_BLOCKS, 11, 0.0f, 32, 0, 0},
      {"antidiagonal", SPARSA_ESTIMATOR_ANTIDIAGONAL, 11, 0.0f, 32, 0, 0},
      {"vertical_slash", SPARSA_ESTIMATOR_VERTICAL_SLASH, 512, 0.0f, 32, 0, 0},
      /* The cumulative-mass rule of FlexPrefill-style estimates: half of
       * the blocks at this threshold on these inputs. */
      {"vertical_slash_threshold", SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0.9f, 32, 0, 0},
      /* Pooled means of a quarter and an eighth of the rows: q and k read
       * 4x and 8x less. */
      {"pooled_s4", SPARSA_ESTIMATOR_POOLED_BLOCKS, 11, 0.0f, 32, 4, 0},
      {"pooled_s8", SPARSA_ESTIMATOR_POOLED_BLOCKS, 11, 0.0f, 32, 8, 0},
      {"pooled_gqa", SPARSA_ESTIMATOR_POOLED_BLOCKS, 11, 0.0f, 8, 0, 0},
      {"antidiagonal_gqa", SPARSA_ESTIMATOR_ANTIDIAGONAL, 11, 0.0f, 8, 0, 0},
      {"vertical_slash_gqa", SPARSA_ESTIMATOR_VERTICAL_SLASH, 512, 0.0f, 8, 0, 0},
      {"vertical_slash_threshold_gqa", SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0.9f, 8, 0, 0},
      {"pooled_s4_gqa", SPARSA_ESTIMATOR_POOLED_BLOCKS, 11, 0.0f, 8, 4, 0},
      {"pooled_s8_gqa", SPARSA_ESTIMATOR_POOLED_BLOCKS, 11, 0.0f, 8, 8, 0},
  };
  int ok = 1;
  size_t used = 0;
  json[0] = '\0';
  for (size_t i = 0; i < sizeof cases / sizeof cases[0] && ok; i++) {
    double r = -1.0, rp = -1.0;
    char part[1024];
    const int grouped = cases[i].kv_heads != H;
    ok = time_method(&cases[i], dq, grouped ? dk8 : dk, grouped ? dv8 : dv, dout, &r, &rp, part,
                     sizeof part);
    if (ok) used += (size_t)snprintf(json + used, json_size - used, ", %s", part);
    if (i == 0) {
      *ratio = r;
      *plan_ratio = rp;
    }
  }
  if (ok) ok = timing_long(dq, dk, bytes, json, json_size, &used);
  cudaFree(dq);
  cudaFree(dk);
  cudaFree(dv);
  cudaFree(dout);
  cudaFree(dk8);
  cudaFree(dv8);
  return ok;
}

static void record(int ok) {
  if (ok)
    g_passed++;
  else
    g_failed++;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int with_timing = !(argc > 1 && strcmp(argv[1], "--no-timing") == 0);
  int timing_only = argc > 1 && strcmp(argv[1], "--timing-only") == 0;
  sparsa_status st = sparsa_context_create(SPARSA_ENGINE_CUDA, 0, &g_gpu);
  if (st == SPARSA_ERR_NO_DEVICE) {
    printf("SKIP: no usable CUDA device: %s\n", sparsa_last_error());
    return SKIP_CODE;
  }
  if (st != SPARSA_OK || sparsa_context_create(SPARSA_ENGINE_CPU, 0, &g_cpu) != SPARSA_OK) {
    printf("FAIL: creating the contexts: %s\n", sparsa_last_error());
    return 1;
  }
  sparsa_context_set_num_threads(g_cpu, 0);
  static const est_case cases[] = {
      {"bf16 4/4 d64 1000 thr0.9 causal", SPARSA_DTYPE_BF16, 1, 4, 4, 64, 1000, 1000, 64, 64,
       SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"f16 b2 8/2 d128 777x1200 top5", SPARSA_DTYPE_F16, 2, 8, 2, 128, 777, 1200, 32, 64,
       SPARSA_SELECT_TOP_K, 5, 0.95f, 1, 2, 0, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"f32 6/1 d64 300 16x16 thr0.95 full", SPARSA_DTYPE_F32, 1, 6, 1, 64, 300, 300, 16, 16,
       SPARSA_SELECT_THRESHOLD, 8, 0.95f, 0, 0, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"bf16 b3 4/2 d96 513x2049 top3", SPARSA_DTYPE_BF16, 3, 4, 2, 96, 513, 2049, 128, 32,
       SPARSA_SELECT_TOP_K, 3, 0.95f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"bf16 2/2 d128 700x300 thr0.5", SPARSA_DTYPE_BF16, 1, 2, 2, 128, 700, 300, 64, 64,
       SPARSA_SELECT_THRESHOLD, 8, 0.5f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"f16 4/4 d64 2000x5000 256x16 top40", SPARSA_DTYPE_F16, 1, 4, 4, 64, 2000, 5000, 256, 16,
       SPARSA_SELECT_TOP_K, 40, 0.95f, 1, 3, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"bf16 32/8 d128 4096 thr0.9", SPARSA_DTYPE_BF16, 1, 32, 8, 128, 4096, 4096, 64, 64,
       SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"f32 b2 3/3 d32 129x4000 thr0.8 full", SPARSA_DTYPE_F32, 2, 3, 3, 32, 129, 4000, 16, 32,
       SPARSA_SELECT_THRESHOLD, 8, 0.8f, 0, 0, 0, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"antidiag bf16 4/2 d64 600x900 S8 thr0.9", SPARSA_DTYPE_BF16, 1, 4, 2, 64, 600, 900, 64,
       64, SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 8, 0, 0},
      {"antidiag f16 b2 2/2 d128 300 S4 top4 full", SPARSA_DTYPE_F16, 2, 2, 2, 128, 300, 300, 32,
       32, SPARSA_SELECT_TOP_K, 4, 0.9f, 0, 0, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 4, 0, 0},
      {"antidiag f32 3/1 d32 250x1000 S16 thr0.8", SPARSA_DTYPE_F32, 1, 3, 1, 32, 250, 1000, 16,
       64, SPARSA_SELECT_THRESHOLD, 8, 0.8f, 1, 2, 0, SPARSA_ESTIMATOR_ANTIDIAGONAL, 16, 0, 0},
      {"vslash bf16 4/2 d64 500x800 thr0.9", SPARSA_DTYPE_BF16, 1, 4, 2, 64, 500, 800, 64, 64,
       SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"vslash f16 b2 2/2 d128 40x700 top20", SPARSA_DTYPE_F16, 2, 2, 2, 128, 40, 700, 32, 32,
       SPARSA_SELECT_TOP_K, 20, 0.9f, 1, 0, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"vslash f32 3/1 d32 300x200 thr0.7", SPARSA_DTYPE_F32, 1, 3, 1, 32, 300, 200, 16, 16,
       SPARSA_SELECT_THRESHOLD, 8, 0.7f, 1, 2, 0, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      /* Every score equal: ties go to the smaller index, sums add in the
       * same order on both engines. */
      {"ties: pooled bf16 2/1 d64 700 top3", SPARSA_DTYPE_BF16, 1, 2, 1, 64, 700, 700, 64, 64,
       SPARSA_SELECT_TOP_K, 3, 0.9f, 1, 0, 0, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 1, 0},
      {"ties: pooled f16 2/2 d32 500 thr0.6 full", SPARSA_DTYPE_F16, 1, 2, 2, 32, 500, 500, 32, 32,
       SPARSA_SELECT_THRESHOLD, 8, 0.6f, 0, 1, 0, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 1, 0},
      {"ties: antidiag bf16 2/2 d64 512 S8 thr0.5", SPARSA_DTYPE_BF16, 1, 2, 2, 64, 512, 512, 64,
       64, SPARSA_SELECT_THRESHOLD, 8, 0.5f, 1, 0, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 8, 1, 0},
      {"ties: vslash bf16 2/1 d64 300x600 top40", SPARSA_DTYPE_BF16, 1, 2, 1, 64, 300, 600, 32, 32,
       SPARSA_SELECT_TOP_K, 40, 0.9f, 1, 0, 0, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 1, 0},
      /* Sinks and diagonal off; dense and sparse thresholds; rows of more
       * super-rows than one product tile; a head size the tensor cores do
       * not take; more last queries than one tile. */
      {"bf16 4/4 d128 2000 128x128 top6 bare", SPARSA_DTYPE_BF16, 1, 4, 4, 128, 2000, 2000, 128,
       128, SPARSA_SELECT_TOP_K, 6, 0.9f, 1, 0, 0, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"bf16 b2 4/2 d64 1500x1700 thr0.99", SPARSA_DTYPE_BF16, 2, 4, 2, 64, 1500, 1700, 64, 32,
       SPARSA_SELECT_THRESHOLD, 8, 0.99f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"antidiag bf16 4/1 d128 1300x1500 S8 top5", SPARSA_DTYPE_BF16, 1, 4, 1, 128, 1300, 1500,
       128, 64, SPARSA_SELECT_TOP_K, 5, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 8, 0, 0},
      {"antidiag f16 2/2 d64 1000 S16 thr0.3 bare", SPARSA_DTYPE_F16, 1, 2, 2, 64, 1000, 1000, 64,
       64, SPARSA_SELECT_THRESHOLD, 8, 0.3f, 1, 0, 0, SPARSA_ESTIMATOR_ANTIDIAGONAL, 16, 0, 0},
      {"antidiag bf16 2/2 d40 700 S4 thr0.9", SPARSA_DTYPE_BF16, 1, 2, 2, 40, 700, 700, 32, 32,
       SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 4, 0, 0},
      {"vslash bf16 2/2 d40 300x500 thr0.8", SPARSA_DTYPE_BF16, 1, 2, 2, 40, 300, 500, 32, 32,
       SPARSA_SELECT_THRESHOLD, 8, 0.8f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"vslash f16 4/2 d128 700x900 last150 thr0.95", SPARSA_DTYPE_F16, 1, 4, 2, 128, 700, 900, 64,
       64, SPARSA_SELECT_THRESHOLD, 8, 0.95f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 150},
      /* Pooled means of every stride-th row: the warp kernel (bf16 with a
       * batch and GQA, f32), the wide kernel (f32 d256), the any-layout
       * kernel (d36); last blocks off the stride (1000 = 7 x 128 + 104). */
      {"pooled bf16 b2 8/2 d128 1000x1300 128x64 S8 top4", SPARSA_DTYPE_BF16, 2, 8, 2, 128, 1000,
       1300, 128, 64, SPARSA_SELECT_TOP_K, 4, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 8, 0, 0},
      {"pooled f32 4/4 d64 777x700 32x32 S4 thr0.9", SPARSA_DTYPE_F32, 1, 4, 4, 64, 777, 700, 32,
       32, SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 4, 0, 0},
      {"pooled f32 2/1 d256 600 64x64 S2 top3 full", SPARSA_DTYPE_F32, 1, 2, 1, 256, 600, 600, 64,
       64, SPARSA_SELECT_TOP_K, 3, 0.9f, 0, 0, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 2, 0, 0},
      {"pooled bf16 4/2 d36 900 64x32 S16 thr0.8", SPARSA_DTYPE_BF16, 1, 4, 2, 36, 900, 900, 64,
       32, SPARSA_SELECT_THRESHOLD, 8, 0.8f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 16, 0, 0},
      /* A batch of two, blocks of 128 x 64 and more keys than queries: a
       * plan made from the estimate's device lists. */
      {"bf16 b2 4/2 d128 600x1000 128x64 top4", SPARSA_DTYPE_BF16, 2, 4, 2, 128, 600, 1000, 128,
       64, SPARSA_SELECT_TOP_K, 4, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      /* Rows past what one CTA sorts in shared memory (global scratch). */
      {"f32 1/1 d32 64x270000 16x16 top100 full", SPARSA_DTYPE_F32, 1, 1, 1, 32, 64, 270000, 64,
       16, SPARSA_SELECT_TOP_K, 100, 0.9f, 0, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0, 0, 0},
      {"vslash bf16 1/1 d64 64x20000 thr0.9", SPARSA_DTYPE_BF16, 1, 1, 1, 64, 64, 20000, 64, 64,
       SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      /* Top-k of long rows by radix select, with and without ties. */
      {"vslash bf16 2/1 d64 64x20000 top300", SPARSA_DTYPE_BF16, 1, 2, 1, 64, 64, 20000, 64, 64,
       SPARSA_SELECT_TOP_K, 300, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"ties: vslash bf16 1/1 d64 100x3000 top100", SPARSA_DTYPE_BF16, 1, 1, 1, 64, 100, 3000, 32,
       32, SPARSA_SELECT_TOP_K, 100, 0.9f, 1, 0, 0, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 1, 0},
      /* Vertical-slash thresholds by the fixed-point descent: keys in
       * shared memory, ties, and a threshold of 1 (truncated masses stay
       * under it: every column and offset). */
      {"vslash bf16 2/2 d128 200x5000 thr0.9", SPARSA_DTYPE_BF16, 1, 2, 2, 128, 200, 5000, 64,
       64, SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"ties: vslash bf16 2/1 d64 300x2500 thr0.6", SPARSA_DTYPE_BF16, 1, 2, 1, 64, 300, 2500, 32,
       32, SPARSA_SELECT_THRESHOLD, 8, 0.6f, 1, 0, 0, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 1, 0},
      {"vslash f16 1/1 d64 100x1800 thr1", SPARSA_DTYPE_F16, 1, 1, 1, 64, 100, 1800, 64, 64,
       SPARSA_SELECT_THRESHOLD, 8, 1.0f, 1, 0, 0, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      /* More heads than one selection's scratch holds: the mask's lists are
       * gathered over several selections and copied to the device. */
      {"bf16 3/1 d64 1024x540000 16x16 top20 chunks", SPARSA_DTYPE_BF16, 1, 3, 1, 64, 1024,
       540000, 16, 16, SPARSA_SELECT_TOP_K, 20, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_POOLED_BLOCKS, 0,
       0, 0},
      /* The wide strided product with depth chunks of 32 and 16. */
      {"antidiag bf16 2/1 d96 900 S8 thr0.9", SPARSA_DTYPE_BF16, 1, 2, 1, 96, 900, 900, 64, 64,
       SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 8, 0, 0},
      {"antidiag f16 2/2 d48 1100x1200 S4 top6", SPARSA_DTYPE_F16, 1, 2, 2, 48, 1100, 1200, 32,
       32, SPARSA_SELECT_TOP_K, 6, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 4, 0, 0},
      /* Products of more than two tiles of 128 super-rows with d a
       * multiple of 64 (the last tile partial): both element types, a
       * batch of 2 with an offset, ties. */
      {"antidiag f16 4/2 d64 1100x1300 S4 top7 full", SPARSA_DTYPE_F16, 1, 4, 2, 64, 1100, 1300,
       64, 64, SPARSA_SELECT_TOP_K, 7, 0.9f, 0, 0, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 4, 0, 0},
      {"antidiag bf16 b2 3/1 d128 2100x2300 S8 thr0.9", SPARSA_DTYPE_BF16, 2, 3, 1, 128, 2100,
       2300, 128, 128, SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 8,
       0, 0},
      {"ties: antidiag bf16 1/1 d64 1200 S4 thr0.5", SPARSA_DTYPE_BF16, 1, 1, 1, 64, 1200, 1200, 64,
       64, SPARSA_SELECT_THRESHOLD, 8, 0.5f, 1, 0, 1, SPARSA_ESTIMATOR_ANTIDIAGONAL, 4, 1, 0},
      /* Vertical-slash masks made on the device: query blocks taller and
       * shorter than key blocks, more queries than keys, the benchmark's
       * blocks over 32 heads. */
      {"vslash bf16 4/2 d64 1000 128x32 thr0.99", SPARSA_DTYPE_BF16, 1, 4, 2, 64, 1000, 1000, 128,
       32, SPARSA_SELECT_THRESHOLD, 8, 0.99f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"vslash f16 2/2 d128 300x700 32x128 top64", SPARSA_DTYPE_F16, 1, 2, 2, 128, 300, 700, 32,
       128, SPARSA_SELECT_TOP_K, 64, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"vslash bf16 2/2 d64 700x300 64x32 thr0.9", SPARSA_DTYPE_BF16, 1, 2, 2, 64, 700, 300, 64,
       32, SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"vslash bf16 32/8 d128 2048 128x128 top128", SPARSA_DTYPE_BF16, 1, 32, 8, 128, 2048, 2048,
       128, 128, SPARSA_SELECT_TOP_K, 128, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0,
       0},
      /* Enough tiles and heads for several units a CTA in the tiled
       * path's product and mass passes, the last tile partial. */
      {"vslash bf16 32/8 d128 64x16100 top500", SPARSA_DTYPE_BF16, 1, 32, 8, 128, 64, 16100, 64,
       64, SPARSA_SELECT_TOP_K, 500, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      /* Vertical-slash masks of blocks of at least 128 x 64: where the
       * device made the mask, the plan on its device lists makes the
       * refinement bits from the list. More keys than queries, more
       * queries than keys, off the block grid, a batch of two, taller
       * blocks, no sinks nor diagonal. */
      {"vslash bf16 4/2 d64 900x1300 128x64 thr0.9", SPARSA_DTYPE_BF16, 1, 4, 2, 64, 900, 1300,
       128, 64, SPARSA_SELECT_THRESHOLD, 8, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"vslash f16 b2 2/2 d128 1000x600 128x128 top40", SPARSA_DTYPE_F16, 2, 2, 2, 128, 1000, 600,
       128, 128, SPARSA_SELECT_TOP_K, 40, 0.9f, 1, 2, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      {"vslash bf16 3/1 d64 700x1000 256x128 top30 bare", SPARSA_DTYPE_BF16, 1, 3, 1, 64, 700,
       1000, 256, 128, SPARSA_SELECT_TOP_K, 30, 0.9f, 1, 0, 0, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0,
       0, 0},
      /* 64 heads of 138 query blocks: 8,832 rows of the mask's lists,
       * past the fill that sums the rows before its own (8,192), so
       * their offsets come from the single-CTA scan. */
      {"vslash bf16 64/8 d64 2200 16x16 top60 scan", SPARSA_DTYPE_BF16, 1, 64, 8, 64, 2200, 2200,
       16, 16, SPARSA_SELECT_TOP_K, 60, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 0, 0},
      /* Ties select columns [0, 28) and offsets [0, 28): query block 2's
       * key block 1 is full only by both together, which the core keeps
       * partial at full height. */
      {"ties: vslash bf16 1/1 d64 200 16x16 top28", SPARSA_DTYPE_BF16, 1, 1, 1, 64, 200, 200, 16,
       16, SPARSA_SELECT_TOP_K, 28, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 1, 0},
      /* Columns [0, 18) and offsets [0, 18) fill key block 1 of the last,
       * shorter query block (rows 32 to 35) only together: a block the
       * core checks pair by pair, so the device leaves the mask to it. */
      {"vslash bf16 1/1 d64 36 16x16 top18 host", SPARSA_DTYPE_BF16, 1, 1, 1, 64, 36, 36, 16, 16,
       SPARSA_SELECT_TOP_K, 18, 0.9f, 1, 1, 1, SPARSA_ESTIMATOR_VERTICAL_SLASH, 0, 1, 0},
  };
  if (!timing_only) {
    record(test_errors());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) record(run_case(&cases[i]));
    record(test_cache());
    record(test_nan_scores());
    record(test_chunked_lists());
  }
  double ratio = -1.0, plan_ratio = -1.0;
  static char timing_json[16384];
  if (with_timing) record(timing(&ratio, &plan_ratio, timing_json, sizeof timing_json));
  sparsa_context_destroy(g_cpu);
  sparsa_context_destroy(g_gpu);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  printf("{\"tests_passed\": %d, \"tests_failed\": %d, \"estimate_vs_attention\": %.4f, "
         "\"estimate_and_plan_vs_attention\": %.4f%s}\n",
         g_passed, g_failed, ratio, plan_ratio, timing_json);
  return g_failed == 0 ? 0 : 1;
}
