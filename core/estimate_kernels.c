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

/* Value x of a row stored as dtype, widened exactly (a constant dtype
 * after inlining). */
static inline float sp_row_value(const void *row, int64_t x, sparsa_dtype dtype) {
  switch (dtype) {
    case SPARSA_DTYPE_BF16: return sp_bf16_to_f32(((const uint16_t *)row)[x]);
    case SPARSA_DTYPE_F16: return sp_f16_to_f32(((const uint16_t *)row)[x]);
    default: return ((const float *)row)[x];
  }
}

/* dst[x] = row[x] widened, in runs of 16: a loop of known length, which
 * the vectorizer takes at the library's -O2 (the plain loop stayed one
 * value at a time, and f16's conversion was then most of the widening). */
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

/* e^x for x <= 0 in double, branch-free over plain arithmetic so that
 * the loops below vectorize (the library's exp() is a call a value): x =
 * n ln 2 + r with n the nearest integer to x log2(e) and |r| <= ln 2 / 2
 * (ln 2 split in two so that n ln 2 is exact), e^r from its degree-13
 * Taylor polynomial (truncation below 1e-17, relative), 2^n built in the
 * exponent bits. x below -708 (a result under the smallest normal double,
 * or NaN) gives 0. Within a few units in the last place of exp(). */
static inline double sp_exp_nonpositive_f64(double x) {
  const int tiny = !(x >= -708.0);
  x = tiny ? 0.0 : x;
  const double round_magic = 6755399441055744.0; /* 1.5 * 2^52 */
  const double shifted = x * 1.4426950408889634 + round_magic;
  uint64_t bits;
  memcpy(&bits, &shifted, sizeof bits); /* n in the low bits */
  const double n = shifted - round_magic;
  const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0; /* 1 / 13! */
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const uint64_t scale_bits = (bits + 1023) << 52;
  double scale;
  memcpy(&scale, &scale_bits, sizeof scale);
  return tiny ? 0.0 : p * scale;
}

/* The pooled softmax's numerators, in passes over plain arrays that each
 * vectorize, with eight partial maxima and sums. */
SP_EST_CLONES double sp_est_softmax_f64(const double *s, int64_t n, double scale, double *e) {
  double lane[8];
  for (int l = 0; l < 8; l++) lane[l] = -INFINITY;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) {
      e[i + l] = scale * s[i + l];
      lane[l] = e[i + l] > lane[l] ? e[i + l] : lane[l];
    }
  double mx = -INFINITY;
  for (; i < n; i++) {
    e[i] = scale * s[i];
    mx = e[i] > mx ? e[i] : mx;
  }
  for (int l = 0; l < 8; l++) mx = lane[l] > mx ? lane[l] : mx;
  double acc[8] = {0};
  for (i = 0; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) {
      e[i + l] = sp_exp_nonpositive_f64(e[i + l] - mx);
      acc[l] += e[i + l];
    }
  double sum = 0.0;
  for (; i < n; i++) {
    e[i] = sp_exp_nonpositive_f64(e[i] - mx);
    sum += e[i];
  }
  for (int l = 0; l < 8; l++) sum += acc[l];
  return sum;
}

/* The maximum, then the scaling and 2^x, in separate passes over plain
 * arrays: each pass vectorizes, and sixteen partial maxima and sums keep
 * the result independent of the reassociation the compiler may not do.
 * The first pass only reads (the scaling is redone in the second: the
 * same product, so the same value), which saves a store of the row. */
SP_EST_CLONES double sp_est_exp2_row(float *x, int64_t n, float mul) {
  float lane[16];
  for (int l = 0; l < 16; l++) lane[l] = -INFINITY;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) {
      const float v = x[i + l] * mul;
      lane[l] = v > lane[l] ? v : lane[l];
    }
  float mx = -INFINITY;
  for (; i < n; i++) {
    const float v = x[i] * mul;
    mx = v > mx ? v : mx;
  }
  for (int l = 0; l < 16; l++) mx = lane[l] > mx ? lane[l] : mx;
  float acc[16] = {0};
  for (i = 0; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) {
      x[i + l] = sp_exp2_nonpositive(x[i + l] * mul - mx);
      acc[l] += x[i + l];
    }
  double sum = 0.0;
  for (; i < n; i++) {
    x[i] = sp_exp2_nonpositive(x[i] * mul - mx);
    sum += x[i];
  }
  for (int l = 0; l < 16; l++) sum += acc[l];
  return sum;
}

/* ---- passes of the top-k selection (estimate_select.c) ---- */

/* Runs of 8 lanes, each a compare (false for a NaN) and a select or an
 * add: the vectorizer's shape at -O2, as above. */
SP_EST_CLONES int64_t sp_est_value_range(const double *w, int64_t n, double *smallest,
                                         double *largest) {
  double lo[8], hi[8];
  int64_t numbers[8] = {0};
  for (int l = 0; l < 8; l++) {
    lo[l] = INFINITY;
    hi[l] = -INFINITY;
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) {
      const double v = w[i + l];
      lo[l] = v < lo[l] ? v : lo[l];
      hi[l] = v > hi[l] ? v : hi[l];
      numbers[l] += v == v;
    }
  for (; i < n; i++) {
    const double v = w[i];
    lo[0] = v < lo[0] ? v : lo[0];
    hi[0] = v > hi[0] ? v : hi[0];
    numbers[0] += v == v;
  }
  int64_t count = 0;
  for (int l = 0; l < 8; l++) {
    lo[0] = lo[l] < lo[0] ? lo[l] : lo[0];
    hi[0] = hi[l] > hi[0] ? hi[l] : hi[0];
    count += numbers[l];
  }
  *smallest = lo[0];
  *largest = hi[0];
  return count;
}

SP_EST_CLONES int64_t sp_est_count_at_least(const double *w, int64_t n, double t) {
  int64_t lane[8] = {0}, count = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) lane[l] += w[i + l] >= t;
  for (; i < n; i++) count += w[i] >= t;
  for (int l = 0; l < 8; l++) count += lane[l];
  return count;
}

/* A run of 8 is looked into only when one of its values is in range: the
 * few in range sit in a handful of runs of a long row. */
SP_EST_CLONES int64_t sp_est_gather_range(const double *w, int64_t n, double lo, double hi,
                                          double *out, int64_t cap) {
  int64_t m = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    int any = 0;
    for (int l = 0; l < 8; l++) any |= (w[i + l] >= lo) & (w[i + l] < hi);
    if (any)
      for (int l = 0; l < 8 && m < cap; l++)
        if (w[i + l] >= lo && w[i + l] < hi) out[m++] = w[i + l];
  }
  for (; i < n && m < cap; i++)
    if (w[i] >= lo && w[i] < hi) out[m++] = w[i];
  return m;
}

SP_EST_CLONES void sp_est_mark_at_least(const double *w, int64_t n, double t, uint8_t *keep) {
  for (int64_t i = 0; i < n; i++) keep[i] |= w[i] >= t;
}

SP_EST_CLONES int64_t sp_est_first_above(const double *w, int64_t from, int64_t n, double t) {
  int64_t i = from;
  for (; i < n && (i & 7) != 0; i++)
    if (w[i] > t) return i;
  for (; i + 8 <= n; i += 8) {
    int any = 0;
    for (int l = 0; l < 8; l++) any |= w[i + l] > t;
    if (any)
      for (int l = 0; l < 8; l++)
        if (w[i + l] > t) return i + l;
  }
  for (; i < n; i++)
    if (w[i] > t) return i;
  return n;
}
