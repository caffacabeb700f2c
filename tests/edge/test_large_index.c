/* More than 2^31 elements in one tensor, on the CPU engine.
 *
 * Case q: q holds 2^31 + 2^16 bf16 elements (4 GiB): 2^21 + 64 query rows of
 * 16 heads x 64. A block-sparse mask gives keys only to the first, a middle
 * and the last row blocks, so compute is tiny; the rows checked near the end
 * sit past element 2^31, where 32-bit index arithmetic would wrap.
 * Case k: k holds as many elements (2^21 + 64 keys of 16 heads x 64) and the
 * 64 queries see three key columns, the last past element 2^31.
 * Untouched pages of the big tensors are never written, so resident memory
 * stays near 1.2 GiB (8 GiB of address space). Each checked row is compared
 * with a float64 computation made here from the pattern's rule.
 *
 * It runs only where the machine has the memory to spare: with less than
 * LX_NEEDED_GIB available (MemAvailable), or if the tensors cannot be
 * allocated, it says so and reports itself skipped (exit 77, which ctest
 * shows as skipped). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sparsa/sparsa.h>

#include "reference/ref_attention.h"
#include "common/test_setup.h"

enum { LX_HEADS = 16, LX_DIM = 64, LX_VDIM = 16, LX_SKIP = 77, LX_NEEDED_GIB = 3 };
static const int64_t lx_long = ((int64_t)1 << 21) + 64;

static int lx_failures;

#define LX_CHECK(cond, ...)                     \
  do {                                          \
    if (!(cond)) {                              \
      fprintf(stderr, "FAILED: " __VA_ARGS__);  \
      fprintf(stderr, "\n");                    \
      lx_failures++;                            \
    }                                           \
  } while (0)

static double lx_value(uint64_t index, uint32_t salt) {
  uint64_t x = (index + salt) * 0x9e3779b97f4a7c15ull;
  return (double)((int)(x >> 58) - 32) / 32.0; /* exact in bf16 */
}

/* One query row of one head against a list of keys, in double. */
static void lx_reference(const uint16_t *q, int64_t q_off, const uint16_t *k, const uint16_t *v,
                         const int64_t *k_off, const int64_t *v_off, int n, double scale,
                         double *out, double *lse) {
  double logit[8], m = -INFINITY;
  for (int e = 0; e < n; e++) {
    double dot = 0;
    for (int d = 0; d < LX_DIM; d++)
      dot += ref_bf16_decode(q[q_off + d]) * ref_bf16_decode(k[k_off[e] + d]);
    logit[e] = dot * scale;
    if (logit[e] > m) m = logit[e];
  }
  double sum = 0;
  for (int d = 0; d < LX_VDIM; d++) out[d] = 0;
  for (int e = 0; e < n; e++) {
    double w = exp(logit[e] - m);
    sum += w;
    for (int d = 0; d < LX_VDIM; d++) out[d] += w * ref_bf16_decode(v[v_off[e] + d]);
  }
  for (int d = 0; d < LX_VDIM; d++) out[d] /= sum;
  *lse = m + log(sum);
}

static void lx_compare(const uint16_t *o, int64_t o_off, const float *lse, int64_t lse_off,
                       const double *want, double want_lse, const char *what, int64_t row, int h) {
  for (int d = 0; d < LX_VDIM; d++) {
    double got = ref_bf16_decode(o[o_off + d]);
    /* bf16 output: half an ulp of rounding plus float32 accumulation */
    LX_CHECK(fabs(got - want[d]) <= 1e-2 * (1.0 + fabs(want[d])),
             "%s row %lld head %d dim %d: %g, want %g", what, (long long)row, h, d, got, want[d]);
  }
  LX_CHECK(fabs(lse[lse_off] - want_lse) <= 1e-4 * (1.0 + fabs(want_lse)),
           "%s row %lld head %d: lse %g, want %g", what, (long long)row, h, (double)lse[lse_off],
           want_lse);
}

static int lx_plan(sparsa_context *ctx, const sparsa_problem *p, const sparsa_pattern *pat,
                   sparsa_plan **plan) {
  test_mask_shape shape = {0, 0, 128, 128, SPARSA_ALIGN_BOTTOM_RIGHT};
  sparsa_status st = test_plan_create(ctx, p, shape, &pat, 1, plan);
  if (st != SPARSA_OK) fprintf(stderr, "FAILED: planning: %s\n", sparsa_last_error());
  return st == SPARSA_OK;
}

/* Case q: rows in row blocks 0, 2^20/64 and the last see 64-key tiles. */
static int lx_case_q(sparsa_context *ctx) {
  const int64_t q_len = lx_long, kv_len = 256, tile = 64;
  const int64_t rows = q_len / tile; /* q_len is a multiple of 64 */
  const int64_t mid = ((int64_t)1 << 20) / tile, last = rows - 1;
  int64_t *row_ptr = calloc((size_t)rows + 1, sizeof *row_ptr);
  int32_t col_idx[3] = {1, 3, 2};
  for (int64_t r = 0; r < rows; r++)
    row_ptr[r + 1] = row_ptr[r] + (r == 0 || r == mid || r == last);
  sparsa_pattern *pat = NULL;
  if (sparsa_pattern_create_blocks_bsr((int32_t)tile, (int32_t)tile, rows, row_ptr, col_idx, &pat) !=
      SPARSA_OK) {
    fprintf(stderr, "FAILED: bsr pattern: %s\n", sparsa_last_error());
    free(row_ptr);
    return 0;
  }
  free(row_ptr);

  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = SPARSA_DTYPE_BF16;
  p.batch = 1;
  p.q_heads = LX_HEADS;
  p.kv_heads = 2;
  p.head_dim = LX_DIM;
  p.v_head_dim = LX_VDIM;
  p.q_len = q_len;
  p.kv_len = kv_len;
  int64_t nq = q_len * LX_HEADS * LX_DIM, nk = kv_len * 2 * LX_DIM, nv = kv_len * 2 * LX_VDIM;
  int64_t no = q_len * LX_HEADS * LX_VDIM, nl = q_len * LX_HEADS;
  printf("case q: q has %lld elements (2^31 = %lld)\n", (long long)nq, (long long)1 << 31);
  uint16_t *q = malloc((size_t)nq * 2), *k = malloc((size_t)nk * 2), *v = malloc((size_t)nv * 2);
  uint16_t *o = malloc((size_t)no * 2);
  float *lse = malloc((size_t)nl * sizeof *lse);
  if (q == NULL || o == NULL || lse == NULL || k == NULL || v == NULL) {
    free(q), free(k), free(v), free(o), free(lse);
    sparsa_pattern_destroy(pat);
    return -1;
  }
  /* Only the rows the mask uses hold data (the rest are never read). */
  const int64_t checked_blocks[3] = {0, mid, last};
  for (int b = 0; b < 3; b++)
    for (int64_t i = checked_blocks[b] * tile; i < (checked_blocks[b] + 1) * tile; i++)
      for (int64_t e = 0; e < LX_HEADS * LX_DIM; e++) {
        int64_t idx = i * LX_HEADS * LX_DIM + e;
        q[idx] = ref_bf16_encode(lx_value((uint64_t)idx, 1));
      }
  for (int64_t e = 0; e < nk; e++) k[e] = ref_bf16_encode(lx_value((uint64_t)e, 2));
  for (int64_t e = 0; e < nv; e++) v[e] = ref_bf16_encode(lx_value((uint64_t)e, 3));

  sparsa_plan *plan = NULL;
  int ok = lx_plan(ctx, &p, pat, &plan);
  sparsa_status st = ok ? sparsa_execute(plan, q, k, v, o, lse, NULL, 0) : SPARSA_ERR_INTERNAL;
  if (ok && st != SPARSA_OK) fprintf(stderr, "FAILED: execute: %s\n", sparsa_last_error());
  if (st == SPARSA_OK) {
    double scale = 1.0 / sqrt((double)LX_DIM), want[LX_VDIM], want_lse;
    /* Rows with keys (first, middle, the very last ones) and rows without. */
    const int64_t rows_checked[6] = {0, mid * tile + 5, q_len - 64, q_len - 2, q_len - 1,
                                     q_len - 65};
    for (int r = 0; r < 6; r++) {
      int64_t i = rows_checked[r];
      int64_t rb = i / tile;
      int has = rb == 0 || rb == mid || rb == last;
      int64_t col = rb == 0 ? 1 : rb == mid ? 3 : 2;
      for (int h = 0; h < LX_HEADS; h += 5) {
        int64_t o_off = (i * LX_HEADS + h) * LX_VDIM, l_off = (int64_t)h * q_len + i;
        if (!has) {
          LX_CHECK(isinf(lse[l_off]) && lse[l_off] < 0, "row %lld sees no key: lse %g",
                   (long long)i, (double)lse[l_off]);
          LX_CHECK(o[o_off] == 0, "row %lld sees no key: output not 0", (long long)i);
          continue;
        }
        int64_t k_off[64], v_off[64];
        int g = h / (LX_HEADS / 2);
        for (int e = 0; e < 64; e++) {
          k_off[e] = ((col * tile + e) * 2 + g) * LX_DIM;
          v_off[e] = ((col * tile + e) * 2 + g) * LX_VDIM;
        }
        /* 64 keys: reference in blocks of 8 would change the maths; use a
         * direct loop instead. */
        double m = -INFINITY, logits[64], sum = 0;
        for (int e = 0; e < 64; e++) {
          double dot = 0;
          for (int d = 0; d < LX_DIM; d++)
            dot += ref_bf16_decode(q[(i * LX_HEADS + h) * LX_DIM + d]) *
                   ref_bf16_decode(k[k_off[e] + d]);
          logits[e] = dot * scale;
          if (logits[e] > m) m = logits[e];
        }
        for (int d = 0; d < LX_VDIM; d++) want[d] = 0;
        for (int e = 0; e < 64; e++) {
          double w = exp(logits[e] - m);
          sum += w;
          for (int d = 0; d < LX_VDIM; d++) want[d] += w * ref_bf16_decode(v[v_off[e] + d]);
        }
        for (int d = 0; d < LX_VDIM; d++) want[d] /= sum;
        want_lse = m + log(sum);
        lx_compare(o, o_off, lse, l_off, want, want_lse, "case q", i, h);
      }
    }
  }
  sparsa_plan_destroy(plan);
  sparsa_pattern_destroy(pat);
  free(q), free(k), free(v), free(o), free(lse);
  return st == SPARSA_OK ? 1 : 0;
}

/* Case k: 64 queries see key columns 5, 2^20 and the last (causal
 * vertical lines); only the last query sees the last key. */
static int lx_case_k(sparsa_context *ctx) {
  const int64_t q_len = 64, kv_len = lx_long;
  const int64_t cols[3] = {5, (int64_t)1 << 20, kv_len - 1};
  sparsa_pattern *pat = NULL;
  if (sparsa_pattern_create_vertical_slash(cols, 3, NULL, 0, &pat) != SPARSA_OK) {
    fprintf(stderr, "FAILED: vertical-slash pattern: %s\n", sparsa_last_error());
    return 0;
  }
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = SPARSA_DTYPE_BF16;
  p.batch = 1;
  p.q_heads = LX_HEADS;
  p.kv_heads = LX_HEADS;
  p.head_dim = LX_DIM;
  p.v_head_dim = LX_VDIM;
  p.q_len = q_len;
  p.kv_len = kv_len;
  int64_t nq = q_len * LX_HEADS * LX_DIM, nk = kv_len * LX_HEADS * LX_DIM;
  int64_t nv = kv_len * LX_HEADS * LX_VDIM, no = q_len * LX_HEADS * LX_VDIM, nl = q_len * LX_HEADS;
  printf("case k: k has %lld elements\n", (long long)nk);
  uint16_t *q = malloc((size_t)nq * 2), *k = malloc((size_t)nk * 2), *v = malloc((size_t)nv * 2);
  uint16_t *o = malloc((size_t)no * 2);
  float *lse = malloc((size_t)nl * sizeof *lse);
  if (q == NULL || o == NULL || lse == NULL || k == NULL || v == NULL) {
    free(q), free(k), free(v), free(o), free(lse);
    sparsa_pattern_destroy(pat);
    return -1;
  }
  for (int64_t e = 0; e < nq; e++) q[e] = ref_bf16_encode(lx_value((uint64_t)e, 4));
  for (int c = 0; c < 3; c++)
    for (int64_t e = 0; e < LX_HEADS * LX_DIM; e++) {
      int64_t idx = cols[c] * LX_HEADS * LX_DIM + e;
      k[idx] = ref_bf16_encode(lx_value((uint64_t)idx, 5));
    }
  for (int c = 0; c < 3; c++)
    for (int64_t e = 0; e < LX_HEADS * LX_VDIM; e++) {
      int64_t idx = cols[c] * LX_HEADS * LX_VDIM + e;
      v[idx] = ref_bf16_encode(lx_value((uint64_t)idx, 6));
    }
  sparsa_plan *plan = NULL;
  int ok = lx_plan(ctx, &p, pat, &plan);
  sparsa_status st = ok ? sparsa_execute(plan, q, k, v, o, lse, NULL, 0) : SPARSA_ERR_INTERNAL;
  if (ok && st != SPARSA_OK) fprintf(stderr, "FAILED: execute: %s\n", sparsa_last_error());
  if (st == SPARSA_OK) {
    double scale = 1.0 / sqrt((double)LX_DIM), want[LX_VDIM], want_lse;
    for (int64_t i = q_len - 3; i < q_len; i++)
      for (int h = 0; h < LX_HEADS; h += 3) {
        int n = i == q_len - 1 ? 3 : 2;
        int64_t k_off[3], v_off[3];
        for (int c = 0; c < n; c++) {
          k_off[c] = (cols[c] * LX_HEADS + h) * LX_DIM;
          v_off[c] = (cols[c] * LX_HEADS + h) * LX_VDIM;
        }
        lx_reference(q, (i * LX_HEADS + h) * LX_DIM, k, v, k_off, v_off, n, scale, want, &want_lse);
        lx_compare(o, (i * LX_HEADS + h) * LX_VDIM, lse, (int64_t)h * q_len + i, want, want_lse,
                   "case k", i, h);
      }
  }
  sparsa_plan_destroy(plan);
  sparsa_pattern_destroy(pat);
  free(q), free(k), free(v), free(o), free(lse);
  return st == SPARSA_OK ? 1 : 0;
}

/* Bytes the kernel could give without swapping (MemAvailable), or the free
 * pages where /proc/meminfo is missing. */
static double lx_available_bytes(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  long long kib = -1;
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "MemAvailable: %lld kB", &kib) == 1) break;
  if (f != NULL) fclose(f);
  if (kib >= 0) return (double)kib * 1024.0;
  return (double)sysconf(_SC_AVPHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
}

int main(void) {
  double available = lx_available_bytes();
  if (available < (double)LX_NEEDED_GIB * 1073741824.0) {
    printf("SKIPPED: needs %d GiB of available memory, this machine has %.1f GiB\n", LX_NEEDED_GIB,
           available / 1073741824.0);
    return LX_SKIP;
  }
  sparsa_context *ctx = NULL;
  if (sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx) != SPARSA_OK) {
    fprintf(stderr, "FAILED: context: %s\n", sparsa_last_error());
    return 1;
  }
  int a = lx_case_q(ctx);
  int b = lx_case_k(ctx);
  sparsa_context_destroy(ctx);
  if (a < 0 || b < 0) {
    printf("SKIPPED: could not allocate the multi-GiB tensors\n");
    return LX_SKIP;
  }
  if (a == 0 || b == 0 || lx_failures > 0) {
    fprintf(stderr, "large-index test: %d check(s) failed\n", lx_failures + (a == 0) + (b == 0));
    return 1;
  }
  printf("large-index test: all checked rows match the float64 computation\n");
  return 0;
}
