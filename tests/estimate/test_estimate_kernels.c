/* The pooled estimator's kernels (core/estimate_pool.c and the double
 * softmax of core/estimate_kernels.c), white-box, on every CPU path this
 * processor runs: the block sums bit for bit against sums in row order
 * (every path adds in that order), the score tiles against products in
 * long double, the softmax numerators against exp(). Outputs are poisoned
 * first; what a kernel must not write is checked to keep its poison. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_main.h"
#include "cpu/convert.h"
#include "estimate.h"

static uint64_t g_state = 0x9e3779b97f4a7c15ull;
static double uniform(void) { /* in [0, 1) */
  g_state = g_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(g_state >> 11) * 0x1p-53;
}

static const double kPoison = -1234.5;

/* A value stored as dtype at element e of buf, and its exact value. */
static double store(void *buf, int64_t e, sparsa_dtype dtype, double v) {
  switch (dtype) {
    case SPARSA_DTYPE_BF16: {
      uint16_t h = sp_f32_to_bf16((float)v);
      ((uint16_t *)buf)[e] = h;
      return sp_bf16_to_f32(h);
    }
    case SPARSA_DTYPE_F16: {
      uint16_t h = sp_f32_to_f16((float)v);
      ((uint16_t *)buf)[e] = h;
      return sp_f16_to_f32(h);
    }
    default:
      ((float *)buf)[e] = (float)v;
      return (float)v;
  }
}

START_TEST(block_sums_match_row_order) {
  const sparsa_dtype dtypes[3] = {SPARSA_DTYPE_F32, SPARSA_DTYPE_BF16, SPARSA_DTYPE_F16};
  const int64_t widths[] = {1, 7, 8, 31, 32, 40, 64, 72, 96, 100, 128};
  const int64_t counts[] = {1, 3, 64};
  enum { kMaxN = 128, kMaxCount = 64, kPad = 5 };
  const int64_t step = kMaxN + kPad;
  void *rows = malloc((size_t)(step * kMaxCount) * 4);
  double *exact = malloc(sizeof(double) * (size_t)(step * kMaxCount));
  double out[kMaxN + 8], want[kMaxN];
  ck_assert_ptr_nonnull(rows);
  ck_assert_ptr_nonnull(exact);
  for (int isa = SP_CPU_ISA_GENERIC; isa <= (int)sp_cpu_isa_best(); isa++)
    for (int t = 0; t < 3; t++)
      for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
        for (size_t ci = 0; ci < sizeof counts / sizeof *counts; ci++) {
          const int64_t n = widths[wi], count = counts[ci];
          /* Magnitudes from 2^-10 to 2^10, both signs: sums that round. */
          for (int64_t e = 0; e < step * count; e++)
            exact[e] = store(rows, e, dtypes[t],
                             (uniform() - 0.5) * ldexp(1.0, (int)(uniform() * 20) - 10));
          for (int64_t x = 0; x < n; x++) {
            want[x] = 0.0;
            for (int64_t i = 0; i < count; i++) want[x] += exact[i * step + x];
          }
          for (int x = 0; x < kMaxN + 8; x++) out[x] = kPoison;
          sp_est_sum_rows_f64((sp_cpu_isa)isa, out, rows, step, count, dtypes[t], n);
          for (int64_t x = 0; x < n; x++)
            ck_assert_msg(out[x] == want[x],
                          "%s dtype %d n %lld count %lld: sum %lld is %.17g, want %.17g",
                          sp_cpu_isa_name((sp_cpu_isa)isa), (int)dtypes[t], (long long)n,
                          (long long)count, (long long)x, out[x], want[x]);
          for (int64_t x = n; x < kMaxN + 8; x++) ck_assert(out[x] == kPoison);
        }
  free(rows);
  free(exact);
}
END_TEST

START_TEST(score_tiles_match_products) {
  const int32_t dims[] = {1, 13, 64, 128};
  enum { kLd = 56, kMaxD = 128 };
  double q[SP_EST_POOL_ROWS * kMaxD], kt[kMaxD * kLd], out[SP_EST_POOL_ROWS * kLd];
  for (int isa = SP_CPU_ISA_GENERIC; isa <= (int)sp_cpu_isa_best(); isa++)
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
      for (int32_t rows = 1; rows <= SP_EST_POOL_ROWS; rows++)
        for (int64_t cols = SP_EST_POOL_COLS; cols <= 48; cols += SP_EST_POOL_COLS) {
          const int32_t d = dims[di];
          for (int e = 0; e < SP_EST_POOL_ROWS * d; e++) q[e] = uniform() - 0.5;
          for (int e = 0; e < d * kLd; e++) kt[e] = uniform() - 0.5;
          for (int e = 0; e < SP_EST_POOL_ROWS * kLd; e++) out[e] = kPoison;
          sp_est_pooled_tile((sp_cpu_isa)isa, q, rows, d, kt, kLd, cols, out);
          for (int32_t i = 0; i < SP_EST_POOL_ROWS; i++)
            for (int64_t c = 0; c < kLd; c++) {
              if (i >= rows || c >= cols) { /* not the tile's: untouched */
                ck_assert(out[i * kLd + c] == kPoison);
                continue;
              }
              long double want = 0.0L, size = 0.0L;
              for (int32_t x = 0; x < d; x++) {
                want += (long double)q[i * d + x] * kt[x * kLd + c];
                size += fabsl((long double)q[i * d + x] * kt[x * kLd + c]);
              }
              ck_assert_msg(fabsl(out[i * kLd + c] - want) <= 1e-14L * size,
                            "%s d %d rows %d cols %lld: score (%d, %lld) %.17g, want %.17Lg",
                            sp_cpu_isa_name((sp_cpu_isa)isa), (int)d, (int)rows,
                            (long long)cols, (int)i, (long long)c, out[i * kLd + c], want);
            }
        }
}
END_TEST

/* Scores spread so that some numerators underflow (exponents below -708
 * give 0) and the rest cover the double range; within 3 units in the last
 * place of exp() (6e-16 relative). */
START_TEST(softmax_matches_exp) {
  enum { kMax = 100 };
  double s[kMax], e[kMax + 4];
  for (int round = 0; round < 2000; round++) {
    const int64_t n = 1 + (int64_t)(uniform() * kMax);
    const double spread = ldexp(1.0, (int)(uniform() * 12)); /* 1 .. 2048 */
    const double scale = 0.125 + uniform();
    for (int64_t c = 0; c < n; c++) s[c] = (uniform() - 0.5) * spread;
    for (int c = 0; c < kMax + 4; c++) e[c] = kPoison;
    const double z = sp_est_softmax_f64(s, n, scale, e);
    double mx = -INFINITY, want_z = 0.0;
    for (int64_t c = 0; c < n; c++) mx = fmax(mx, scale * s[c]);
    for (int64_t c = 0; c < n; c++) {
      const double x = scale * s[c] - mx, want = exp(x);
      want_z += want;
      if (x < -708.0)
        ck_assert_msg(e[c] == 0.0, "round %d: exp(%g) gave %g, want 0", round, x, e[c]);
      else
        ck_assert_msg(fabs(e[c] - want) <= 6e-16 * want, "round %d: exp(%.17g) = %.17g, want %.17g",
                      round, x, e[c], want);
    }
    for (int64_t c = n; c < kMax + 4; c++) ck_assert(e[c] == kPoison);
    /* Each term within 3 ulp, and the two sums each round once a term, in
     * orders that differ (eight partial sums against one). */
    const double sum_tolerance = (double)(2 * n + 6) * 1.2e-16 * want_z;
    ck_assert_msg(fabs(z - want_z) <= sum_tolerance, "round %d: sum %.17g, want %.17g", round, z,
                  want_z);
  }
  /* The row's largest gives exactly 1; -inf scores give 0. */
  const double t[3] = {-INFINITY, 2.0, -1.0};
  const double z = sp_est_softmax_f64(t, 3, 1.0, e);
  ck_assert(e[0] == 0.0 && e[1] == 1.0);
  ck_assert(fabs(e[2] - exp(-3.0)) <= 6e-16 * exp(-3.0));
  ck_assert(z == 1.0 + e[2]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("estimate_kernels");
  TCase *tc = tcase_create("estimate_kernels");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, block_sums_match_row_order);
  tcase_add_test(tc, score_tiles_match_products);
  tcase_add_test(tc, softmax_matches_exp);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
