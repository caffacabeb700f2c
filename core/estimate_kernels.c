/* Inner products of the estimators. Cloned for AVX-512 so the scoring loops
 * run at vector width on CPUs that have it, while the library itself stays
 * buildable for a baseline x86-64 (or any other) target. */
#include "estimate.h"

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

/* Dot products of up to SP_EST_MULTI rows (row r at rows + r * n) with one
 * vector: the vector is read once for all rows, which turns the scoring
 * loops from streaming k once per query into once per group of queries. */
SP_EST_CLONES void sp_est_dot_multi(const float *rows, int32_t num_rows, const float *vec,
                                    int64_t n, float *out) {
  float acc[SP_EST_MULTI][16];
  for (int32_t r = 0; r < SP_EST_MULTI; r++)
    for (int l = 0; l < 16; l++) acc[r][l] = 0.0f;
  int64_t i = 0;
  if (num_rows == SP_EST_MULTI) {
    for (; i + 16 <= n; i += 16)
      for (int32_t r = 0; r < SP_EST_MULTI; r++)
        for (int l = 0; l < 16; l++) acc[r][l] += rows[r * n + i + l] * vec[i + l];
  } else {
    for (; i + 16 <= n; i += 16)
      for (int32_t r = 0; r < num_rows; r++)
        for (int l = 0; l < 16; l++) acc[r][l] += rows[r * n + i + l] * vec[i + l];
  }
  for (int32_t r = 0; r < num_rows; r++) {
    float sum = 0.0f, tail = 0.0f;
    for (int64_t t = i; t < n; t++) tail += rows[r * n + t] * vec[t];
    for (int l = 0; l < 16; l++) sum += acc[r][l];
    out[r] = sum + tail;
  }
}
