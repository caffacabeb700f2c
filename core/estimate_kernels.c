/* Inner products of the estimators. Cloned for AVX-512 so the scoring loops
 * run at vector width on CPUs that have it, while the library itself stays
 * buildable for a baseline x86-64 (or any other) target. */
#include <math.h>
#include <string.h>

#include "estimate.h"

#include "cpu/convert.h"
#include "cpu/exp2.h"

/* Not under sanitizers: ifunc resolvers run during relocation, before the
 * ThreadSanitizer runtime is initialized, and crash an instrumented
 * process at start-up. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(SPARSA_NO_MULTIVERSIONING)
#define SP_EST_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SP_EST_CLONES
#endif

/* Sixteen independent partial sums: the compiler vectorizes the lane loop
 * without reassociating a single accumulator (which it may not do under
 * strict IEEE semantics). */
SP_EST_CLONES float sp_est_dot(const float *a, const float *b, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) acc[l] += a[i + l] * b[i + l];
  float tail = 0.0f;
  for (; i < n; i++) tail += a[i] * b[i];
  float sum = 0.0f;
  for (int l = 0; l < 16; l++) sum += acc[l];
  return sum + tail;
}

/* The same in double, for the pooled scores (block means are kept in
 * double so that selections do not hinge on float rounding). */
SP_EST_CLONES double sp_est_dot_f64(const double *a, const double *b, int64_t n) {
  double acc[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) acc[l] += a[i + l] * b[i + l];
  double tail = 0.0;
  for (; i < n; i++) tail += a[i] * b[i];
  double sum = 0.0;
  for (int l = 0; l < 8; l++) sum += acc[l];
  return sum + tail;
}

/* Value x of a row stored as dtype, widened exactly (a constant dtype
 * after inlining). */
static inline float sp_row_value(const void *row, int64_t x, sparsa_dtype dtype) {
  switch (dtype) {
    case SPARSA_DTYPE_BF16: return sp_bf16_to_f32(((const uint16_t *)row)[x]);
    case SPARSA_DTYPE_F16: return sp_f16_to_f32(((const uint16_t *)row)[x]);
    default: return ((const float *)row)[x];
  }
}

/* sum[x] += row[x] for x < n, in runs of 16: a loop of known length,
 * which the vectorizer takes at the library's -O2 (the plain loop stayed
 * one value at a time, and f16's conversion was then most of an f16
 * pooled estimate). One add per element, so the sums are the same
 * whatever the vector width. */
static inline void sp_add_row(double *sum, const void *row, int64_t n, sparsa_dtype dtype) {
  int64_t x = 0;
  for (; x + 16 <= n; x += 16)
    for (int l = 0; l < 16; l++) sum[x + l] += (double)sp_row_value(row, x + l, dtype);
  for (; x < n; x++) sum[x] += (double)sp_row_value(row, x, dtype);
}

SP_EST_CLONES void sp_est_add_row_f64(double *sum, const void *row, sparsa_dtype dtype, int64_t n) {
  switch (dtype) {
    case SPARSA_DTYPE_BF16: sp_add_row(sum, row, n, SPARSA_DTYPE_BF16); return;
    case SPARSA_DTYPE_F16: sp_add_row(sum, row, n, SPARSA_DTYPE_F16); return;
    default: sp_add_row(sum, row, n, SPARSA_DTYPE_F32); return;
  }
}

/* dst[x] = row[x] widened, in runs of 16 as above. */
static inline void sp_widen_row(float *dst, const void *row, int64_t n, sparsa_dtype dtype) {
  int64_t x = 0;
  for (; x + 16 <= n; x += 16)
    for (int l = 0; l < 16; l++) dst[x + l] = sp_row_value(row, x + l, dtype);
  for (; x < n; x++) dst[x] = sp_row_value(row, x, dtype);
}

SP_EST_CLONES void sp_est_widen_row(float *dst, const void *row, sparsa_dtype dtype, int64_t n) {
  switch (dtype) {
    case SPARSA_DTYPE_BF16: sp_widen_row(dst, row, n, SPARSA_DTYPE_BF16); return;
    case SPARSA_DTYPE_F16: sp_widen_row(dst, row, n, SPARSA_DTYPE_F16); return;
    default: memcpy(dst, row, (size_t)n * sizeof(float)); return;
  }
}

/* One add per sum, so the order is the scalar loop's. Runs of 16, each
 * run's diagonals written forwards from its last (a reversed read of the
 * run's values, which the vectorizer turns into one permute), and restrict
 * (col and diag are distinct buffers): so written the loop is vectorized at
 * the library's -O2, where the plain loop, storing diag[pos - j] backwards,
 * stayed one key at a time. */
SP_EST_CLONES void sp_est_spread_row(const float *row, double f, int64_t pos, double *restrict col,
                                     double *restrict diag) {
  int64_t j = 0;
  for (; j + 16 <= pos + 1; j += 16) {
    double a[16];
    for (int l = 0; l < 16; l++) a[l] = (double)row[j + l] * f;
    for (int l = 0; l < 16; l++) col[j + l] += a[l];
    double *run = diag + (pos - j - 15); /* run[15 - l] is diag[pos - j - l] */
    for (int l = 0; l < 16; l++) run[l] += a[15 - l];
  }
  for (; j <= pos; j++) {
    const double a = (double)row[j] * f;
    col[j] += a;
    diag[pos - j] += a;
  }
}

/* Dot products of a tile of up to SP_EST_TILE rows of a with up to
 * SP_EST_TILE rows of b (row r of a at a + r * n, row c of b at b + c * n):
 * out[r * SP_EST_TILE + c]. Each loaded chunk of a feeds SP_EST_TILE
 * products and each chunk of b as many, with the sixteen accumulators in
 * vector registers, so the scoring loops run at the FMA rate rather than
 * the load rate. */
typedef float sp_v16 __attribute__((vector_size(64)));

/* Vectors are passed by pointer only: a vector argument or return value
 * would change calling conventions between the clones. */
static inline float sp_hsum16(const sp_v16 *v) {
  float sum = 0.0f;
  for (int l = 0; l < 16; l++) sum += (*v)[l];
  return sum;
}

SP_EST_CLONES void sp_est_dot_tile(const float *a, int32_t na, const float *b, int32_t nb,
                                   int64_t n, float *out) {
  int64_t body = n - n % 16;
  if (na == SP_EST_TILE && nb == SP_EST_TILE) {
    sp_v16 acc[SP_EST_TILE][SP_EST_TILE];
#pragma GCC unroll 4
    for (int r = 0; r < SP_EST_TILE; r++)
#pragma GCC unroll 4
      for (int c = 0; c < SP_EST_TILE; c++) acc[r][c] = (sp_v16){0};
    for (int64_t i = 0; i < body; i += 16) {
      sp_v16 av[SP_EST_TILE], bv[SP_EST_TILE];
#pragma GCC unroll 4
      for (int r = 0; r < SP_EST_TILE; r++) __builtin_memcpy(&av[r], a + r * n + i, sizeof av[r]);
#pragma GCC unroll 4
      for (int c = 0; c < SP_EST_TILE; c++) __builtin_memcpy(&bv[c], b + c * n + i, sizeof bv[c]);
#pragma GCC unroll 4
      for (int r = 0; r < SP_EST_TILE; r++)
#pragma GCC unroll 4
        for (int c = 0; c < SP_EST_TILE; c++) acc[r][c] += av[r] * bv[c];
    }
    for (int r = 0; r < SP_EST_TILE; r++)
      for (int c = 0; c < SP_EST_TILE; c++) out[r * SP_EST_TILE + c] = sp_hsum16(&acc[r][c]);
  } else {
    for (int32_t r = 0; r < na; r++)
      for (int32_t c = 0; c < nb; c++) {
        sp_v16 acc = {0}, av, bv;
        for (int64_t i = 0; i < body; i += 16) {
          __builtin_memcpy(&av, a + r * n + i, sizeof av);
          __builtin_memcpy(&bv, b + c * n + i, sizeof bv);
          acc += av * bv;
        }
        out[r * SP_EST_TILE + c] = sp_hsum16(&acc);
      }
  }
  for (int32_t r = 0; r < na; r++)
    for (int32_t c = 0; c < nb; c++) {
      float tail = 0.0f;
      for (int64_t i = body; i < n; i++) tail += a[r * n + i] * b[c * n + i];
      out[r * SP_EST_TILE + c] += tail;
    }
}

/* Scaling, maximum and 2^x in separate passes over plain arrays: each pass
 * vectorizes, and sixteen partial sums keep the total independent of the
 * reassociation the compiler may not do. */
SP_EST_CLONES double sp_est_exp2_row(float *x, int64_t n, float mul) {
  float lane[16];
  for (int l = 0; l < 16; l++) lane[l] = -INFINITY;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) {
      float v = x[i + l] * mul;
      x[i + l] = v;
      lane[l] = v > lane[l] ? v : lane[l];
    }
  float mx = -INFINITY;
  for (; i < n; i++) {
    x[i] *= mul;
    mx = x[i] > mx ? x[i] : mx;
  }
  for (int l = 0; l < 16; l++) mx = lane[l] > mx ? lane[l] : mx;
  float acc[16] = {0};
  for (i = 0; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) {
      x[i + l] = sp_exp2_nonpositive(x[i + l] - mx);
      acc[l] += x[i + l];
    }
  double sum = 0.0;
  for (; i < n; i++) {
    x[i] = sp_exp2_nonpositive(x[i] - mx);
    sum += x[i];
  }
  for (int l = 0; l < 16; l++) sum += acc[l];
  return sum;
}
