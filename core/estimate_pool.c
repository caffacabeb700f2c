/* Kernels of the pooled estimator: block sums of q and k rows in double,
 * and the scores of a few query blocks' means against every key block's.
 *
 * Both are written once with x86 intrinsics per CPU path (function-level
 * target attributes, run on the path the caller names, as in
 * estimate_gemm.c) and once in portable C. Generic vector code did not do:
 * the compiler widened bf16 to double through twice the shuffles a row
 * needs, and kept a run of sums in memory unless every loop was unrolled
 * by hand.
 *
 * Every path adds each sum's terms in the same order (rows in order for
 * the block sums; x in order for a score), so paths differ by the rounding
 * of a fused multiply-add at most. */
#include <string.h>

#include "cpu/convert.h"
#include "estimate.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SP_POOL_X86 1
#include <immintrin.h>
#else
#define SP_POOL_X86 0
#endif

static inline float sp_pool_value(const char *p, int64_t x, sparsa_dtype dtype) {
  uint16_t h;
  float f;
  switch (dtype) {
    case SPARSA_DTYPE_BF16:
      memcpy(&h, p + 2 * x, sizeof h);
      return sp_bf16_to_f32(h);
    case SPARSA_DTYPE_F16:
      memcpy(&h, p + 2 * x, sizeof h);
      return sp_f16_to_f32(h);
    default:
      memcpy(&f, p + 4 * x, sizeof f);
      return f;
  }
}

/* out[x] for x in [x0, n): one sum at a time, the rows in order. */
static void sp_sum_rows_portable(double *out, const char *first, int64_t step_bytes, int64_t count,
                                 sparsa_dtype dtype, int64_t x0, int64_t n) {
  for (int64_t x = x0; x < n; x++) {
    double sum = 0.0;
    const char *row = first;
    for (int64_t i = 0; i < count; i++, row += step_bytes)
      sum += (double)sp_pool_value(row, x, dtype);
    out[x] = sum;
  }
}

static void sp_pooled_tile_portable(const double *const q[SP_EST_POOL_ROWS], int32_t rows,
                                    int32_t d, const double *kt, int64_t ldk, int64_t c0,
                                    double *out) {
  for (int32_t i = 0; i < rows; i++)
    for (int64_t c = c0; c < c0 + SP_EST_POOL_COLS; c++) {
      double sum = 0.0;
      for (int32_t x = 0; x < d; x++) sum += q[i][x] * kt[x * ldk + c];
      out[i * ldk + c] = sum;
    }
}

#if SP_POOL_X86

#define SP_POOL_UNROLL _Pragma("GCC unroll 8")

/* Eight values of a row widened to float32 (exact). */
__attribute__((target("avx2,fma,f16c"))) static inline __m256 sp_load8_avx2(const char *p,
                                                                            sparsa_dtype dtype) {
  switch (dtype) {
    case SPARSA_DTYPE_BF16:
      return _mm256_castsi256_ps(
          _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    case SPARSA_DTYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    default: return _mm256_loadu_ps((const float *)p);
  }
}

/* Runs of 32 sums in eight registers across the rows. */
__attribute__((target("avx2,fma,f16c"))) static int64_t sp_sum_rows_avx2(
    double *out, const char *first, int64_t step_bytes, int64_t count, sparsa_dtype dtype,
    int64_t n) {
  const int64_t esize = dtype == SPARSA_DTYPE_F32 ? 4 : 2;
  int64_t x = 0;
  for (; x + 32 <= n; x += 32) {
    __m256d acc[8];
    SP_POOL_UNROLL
    for (int v = 0; v < 8; v++) acc[v] = _mm256_setzero_pd();
    const char *row = first + x * esize;
    for (int64_t i = 0; i < count; i++, row += step_bytes) {
      SP_POOL_UNROLL
      for (int v = 0; v < 4; v++) {
        __m256 f = sp_load8_avx2(row + v * 8 * esize, dtype);
        acc[2 * v] = _mm256_add_pd(acc[2 * v], _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
        const __m128 hi = _mm256_extractf128_ps(f, 1);
        acc[2 * v + 1] = _mm256_add_pd(acc[2 * v + 1], _mm256_cvtps_pd(hi));
      }
    }
    SP_POOL_UNROLL
    for (int v = 0; v < 8; v++) _mm256_storeu_pd(out + x + 4 * v, acc[v]);
  }
  return x;
}

/* Four rows by sixteen key blocks as two passes of 4 x 8: eight
 * accumulators, the FMAs that two ports of four cycles' latency keep busy. */
__attribute__((target("avx2,fma"))) static void sp_pooled_tile_avx2(
    const double *const q[SP_EST_POOL_ROWS], int32_t rows, int32_t d, const double *kt,
    int64_t ldk, int64_t c0, double *out) {
  for (int64_t c = c0; c < c0 + SP_EST_POOL_COLS; c += 8) {
    __m256d acc[SP_EST_POOL_ROWS][2];
    SP_POOL_UNROLL
    for (int i = 0; i < SP_EST_POOL_ROWS; i++) acc[i][0] = acc[i][1] = _mm256_setzero_pd();
    for (int32_t x = 0; x < d; x++) {
      const __m256d k0 = _mm256_loadu_pd(kt + x * ldk + c);
      const __m256d k1 = _mm256_loadu_pd(kt + x * ldk + c + 4);
      SP_POOL_UNROLL
      for (int i = 0; i < SP_EST_POOL_ROWS; i++) {
        const __m256d s = _mm256_broadcast_sd(q[i] + x);
        acc[i][0] = _mm256_fmadd_pd(s, k0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_pd(s, k1, acc[i][1]);
      }
    }
    SP_POOL_UNROLL /* constant indices: the accumulators stay in registers */
    for (int i = 0; i < SP_EST_POOL_ROWS; i++)
      if (i < rows) {
        _mm256_storeu_pd(out + i * ldk + c, acc[i][0]);
        _mm256_storeu_pd(out + i * ldk + c + 4, acc[i][1]);
      }
  }
}

__attribute__((target("avx512f"))) static inline __m512 sp_load16_avx512(const char *p,
                                                                        sparsa_dtype dtype) {
  switch (dtype) {
    case SPARSA_DTYPE_BF16:
      return _mm512_castsi512_ps(
          _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    case SPARSA_DTYPE_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    default: return _mm512_loadu_ps((const float *)p);
  }
}

/* A run of 16 * vecs sums (vecs 4 or 2, a constant after inlining) in
 * registers across the rows. */
__attribute__((target("avx512f,avx512dq"))) static inline __attribute__((always_inline)) void
sp_sum_run_avx512(double *out, const char *row, int64_t step_bytes, int64_t count,
                  sparsa_dtype dtype, int vecs) {
  const int64_t esize = dtype == SPARSA_DTYPE_F32 ? 4 : 2;
  __m512d acc[8];
  SP_POOL_UNROLL
  for (int v = 0; v < 2 * vecs; v++) acc[v] = _mm512_setzero_pd();
  for (int64_t i = 0; i < count; i++, row += step_bytes) {
    SP_POOL_UNROLL
    for (int v = 0; v < vecs; v++) {
      __m512 f = sp_load16_avx512(row + v * 16 * esize, dtype);
      __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1));
      acc[2 * v] = _mm512_add_pd(acc[2 * v], _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
      acc[2 * v + 1] = _mm512_add_pd(acc[2 * v + 1], _mm512_cvtps_pd(hi));
    }
  }
  SP_POOL_UNROLL
  for (int v = 0; v < 2 * vecs; v++) _mm512_storeu_pd(out + 8 * v, acc[v]);
}

/* Runs of 64 sums in eight registers across the rows, then of 32. */
__attribute__((target("avx512f,avx512dq"))) static int64_t sp_sum_rows_avx512(
    double *out, const char *first, int64_t step_bytes, int64_t count, sparsa_dtype dtype,
    int64_t n) {
  const int64_t esize = dtype == SPARSA_DTYPE_F32 ? 4 : 2;
  int64_t x = 0;
  for (; x + 64 <= n; x += 64)
    sp_sum_run_avx512(out + x, first + x * esize, step_bytes, count, dtype, 4);
  for (; x + 32 <= n; x += 32)
    sp_sum_run_avx512(out + x, first + x * esize, step_bytes, count, dtype, 2);
  return x;
}

/* Four rows by sixteen key blocks (two registers a row): eight
 * accumulators. */
__attribute__((target("avx512f"))) static void sp_pooled_tile_avx512(
    const double *const q[SP_EST_POOL_ROWS], int32_t rows, int32_t d, const double *kt,
    int64_t ldk, int64_t c0, double *out) {
  __m512d acc[SP_EST_POOL_ROWS][2];
  SP_POOL_UNROLL
  for (int i = 0; i < SP_EST_POOL_ROWS; i++) acc[i][0] = acc[i][1] = _mm512_setzero_pd();
  for (int32_t x = 0; x < d; x++) {
    const __m512d k0 = _mm512_loadu_pd(kt + x * ldk + c0);
    const __m512d k1 = _mm512_loadu_pd(kt + x * ldk + c0 + 8);
    SP_POOL_UNROLL
    for (int i = 0; i < SP_EST_POOL_ROWS; i++) {
      const __m512d s = _mm512_set1_pd(q[i][x]);
      acc[i][0] = _mm512_fmadd_pd(s, k0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_pd(s, k1, acc[i][1]);
    }
  }
  SP_POOL_UNROLL /* constant indices: the accumulators stay in registers */
  for (int i = 0; i < SP_EST_POOL_ROWS; i++)
    if (i < rows) {
      _mm512_storeu_pd(out + i * ldk + c0, acc[i][0]);
      _mm512_storeu_pd(out + i * ldk + c0 + 8, acc[i][1]);
    }
}

#endif

void sp_est_sum_rows_f64(sp_cpu_isa isa, double *out, const void *first, int64_t step,
                         int64_t count, sparsa_dtype dtype, int64_t n) {
  const int64_t step_bytes = step * (dtype == SPARSA_DTYPE_F32 ? 4 : 2);
  int64_t done = 0;
#if SP_POOL_X86
  if (isa >= SP_CPU_ISA_AVX512)
    done = sp_sum_rows_avx512(out, first, step_bytes, count, dtype, n);
  else if (isa == SP_CPU_ISA_AVX2)
    done = sp_sum_rows_avx2(out, first, step_bytes, count, dtype, n);
#else
  (void)isa;
#endif
  sp_sum_rows_portable(out, first, step_bytes, count, dtype, done, n);
}

_Static_assert(SP_EST_POOL_COLS == 16, "the tiles above hold sixteen key blocks a row");

void sp_est_pooled_tile(sp_cpu_isa isa, const double *qbar, int32_t rows, int32_t d,
                        const double *kt, int64_t ldk, int64_t cols, double *out) {
  const double *q[SP_EST_POOL_ROWS];
  for (int i = 0; i < SP_EST_POOL_ROWS; i++) q[i] = qbar + (int64_t)(i < rows ? i : rows - 1) * d;
  for (int64_t c = 0; c < cols; c += SP_EST_POOL_COLS) {
#if SP_POOL_X86
    if (isa >= SP_CPU_ISA_AVX512) {
      sp_pooled_tile_avx512(q, rows, d, kt, ldk, c, out);
      continue;
    }
    if (isa == SP_CPU_ISA_AVX2) {
      sp_pooled_tile_avx2(q, rows, d, kt, ldk, c, out);
      continue;
    }
#else
    (void)isa;
#endif
    sp_pooled_tile_portable(q, rows, d, kt, ldk, c, out);
  }
}
