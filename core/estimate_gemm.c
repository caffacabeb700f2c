/* Register-tiled products of the antidiagonal estimator: SP_EST_MR packed
 * rows times one strip of SP_EST_NR packed columns (estimate.h gives the
 * layouts), the whole reduction kept in registers.
 *
 * Two element formats. float32 rows are read one scalar per row and step
 * (broadcast) against vectors of the strip, several rows at a time so
 * that enough independent fused multiply-adds are in flight. bfloat16 rows
 * are read one *pair* per row and step against a strip stored as
 * interleaved pairs, so one bf16 dot product instruction (avx512_bf16)
 * does the work of two float32 FMAs per lane; products of two bf16 values
 * are exact in float32, so the result differs from the float32 path by
 * accumulation rounding only.
 *
 * The AVX-512 and AVX2 kernels are compiled with function-level target
 * attributes and run on the path the caller names (the estimating
 * context's, estimate.h); the generic path, other CPUs and other compilers
 * take the portable loops, which give the same sums up to rounding. */
#include <string.h>

#include "estimate.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SP_EST_X86 1
#include <immintrin.h>
#else
#define SP_EST_X86 0
#endif

_Static_assert(SP_EST_MR == 8 && SP_EST_NR == 32, "the kernels below are written for 8 x 32");

static void sp_tile_f32_portable(const float *a, int64_t lda, const float *strip, int64_t depth,
                                 float *c, int64_t ldc) {
  float acc[SP_EST_MR][SP_EST_NR];
  memset(acc, 0, sizeof acc);
  for (int64_t x = 0; x < depth; x++) {
    const float *b = strip + x * SP_EST_NR;
    for (int r = 0; r < SP_EST_MR; r++) {
      float s = a[r * lda + x];
      for (int j = 0; j < SP_EST_NR; j++) acc[r][j] += s * b[j];
    }
  }
  for (int r = 0; r < SP_EST_MR; r++) memcpy(c + r * ldc, acc[r], sizeof acc[r]);
}

static float sp_bf16_value(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static void sp_tile_bf16_portable(const uint16_t *a, int64_t lda, const uint16_t *strip,
                                  int64_t pairs, float *c, int64_t ldc) {
  float acc[SP_EST_MR][SP_EST_NR];
  memset(acc, 0, sizeof acc);
  for (int64_t x = 0; x < pairs; x++) {
    const uint16_t *b = strip + x * 2 * SP_EST_NR;
    for (int r = 0; r < SP_EST_MR; r++) {
      float s0 = sp_bf16_value(a[r * lda + 2 * x]), s1 = sp_bf16_value(a[r * lda + 2 * x + 1]);
      for (int j = 0; j < SP_EST_NR; j++)
        acc[r][j] += s0 * sp_bf16_value(b[2 * j]) + s1 * sp_bf16_value(b[2 * j + 1]);
    }
  }
  for (int r = 0; r < SP_EST_MR; r++) memcpy(c + r * ldc, acc[r], sizeof acc[r]);
}

#if SP_EST_X86

/* The accumulators must live in registers: the row loops are unrolled
 * fully, or the compiler keeps the arrays in memory at -O2. */
#define SP_UNROLL_ROWS _Pragma("GCC unroll 8")

__attribute__((target("avx512f"))) static void sp_tile_f32_avx512(const float *a, int64_t lda,
                                                                   const float *strip,
                                                                   int64_t depth, float *c,
                                                                   int64_t ldc) {
  __m512 lo[SP_EST_MR], hi[SP_EST_MR];
  SP_UNROLL_ROWS
  for (int r = 0; r < SP_EST_MR; r++) lo[r] = hi[r] = _mm512_setzero_ps();
  for (int64_t x = 0; x < depth; x++) {
    __m512 b0 = _mm512_loadu_ps(strip + x * SP_EST_NR);
    __m512 b1 = _mm512_loadu_ps(strip + x * SP_EST_NR + 16);
    SP_UNROLL_ROWS
    for (int r = 0; r < SP_EST_MR; r++) {
      __m512 s = _mm512_set1_ps(a[r * lda + x]);
      lo[r] = _mm512_fmadd_ps(s, b0, lo[r]);
      hi[r] = _mm512_fmadd_ps(s, b1, hi[r]);
    }
  }
  SP_UNROLL_ROWS
  for (int r = 0; r < SP_EST_MR; r++) {
    _mm512_storeu_ps(c + r * ldc, lo[r]);
    _mm512_storeu_ps(c + r * ldc + 16, hi[r]);
  }
}

__attribute__((target("avx512f,avx512bf16"))) static void sp_tile_bf16_avx512(
    const uint16_t *a, int64_t lda, const uint16_t *strip, int64_t pairs, float *c, int64_t ldc) {
  __m512 lo[SP_EST_MR], hi[SP_EST_MR];
  SP_UNROLL_ROWS
  for (int r = 0; r < SP_EST_MR; r++) lo[r] = hi[r] = _mm512_setzero_ps();
  for (int64_t x = 0; x < pairs; x++) {
    __m512bh b0 = (__m512bh)_mm512_loadu_si512(strip + x * 2 * SP_EST_NR);
    __m512bh b1 = (__m512bh)_mm512_loadu_si512(strip + x * 2 * SP_EST_NR + 32);
    SP_UNROLL_ROWS
    for (int r = 0; r < SP_EST_MR; r++) {
      uint32_t pair;
      memcpy(&pair, a + r * lda + 2 * x, sizeof pair);
      __m512bh s = (__m512bh)_mm512_set1_epi32((int)pair);
      lo[r] = _mm512_dpbf16_ps(lo[r], s, b0);
      hi[r] = _mm512_dpbf16_ps(hi[r], s, b1);
    }
  }
  SP_UNROLL_ROWS
  for (int r = 0; r < SP_EST_MR; r++) {
    _mm512_storeu_ps(c + r * ldc, lo[r]);
    _mm512_storeu_ps(c + r * ldc + 16, hi[r]);
  }
}

/* AVX2 (16 registers of 8 floats): the tile in four passes of 4 rows by
 * 2 vectors, eight accumulators, the FMAs that two ports of four cycles'
 * latency keep busy, with two strip vectors and a broadcast beside them.
 * Four rows a pass rather than two halves the strip's reads, which at the
 * antidiagonal's depths (S d floats: 1,024 for S = 8, d = 128) come from
 * L2. Each output still adds its products in depth order. */
__attribute__((target("avx2,fma"))) static void sp_tile_f32_avx2(const float *a, int64_t lda,
                                                                 const float *strip, int64_t depth,
                                                                 float *c, int64_t ldc) {
  enum { ROWS = 4, VECS = 2, LANES = 8 };
  for (int r0 = 0; r0 < SP_EST_MR; r0 += ROWS) {
    for (int c0 = 0; c0 < SP_EST_NR; c0 += VECS * LANES) {
      __m256 acc[ROWS][VECS];
      SP_UNROLL_ROWS
      for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
      const float *ar = a + r0 * lda;
      for (int64_t x = 0; x < depth; x++) {
        const __m256 b0 = _mm256_loadu_ps(strip + x * SP_EST_NR + c0);
        const __m256 b1 = _mm256_loadu_ps(strip + x * SP_EST_NR + c0 + LANES);
        SP_UNROLL_ROWS
        for (int r = 0; r < ROWS; r++) {
          const __m256 s = _mm256_broadcast_ss(ar + r * lda + x);
          acc[r][0] = _mm256_fmadd_ps(s, b0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(s, b1, acc[r][1]);
        }
      }
      SP_UNROLL_ROWS
      for (int r = 0; r < ROWS; r++) {
        _mm256_storeu_ps(c + (r0 + r) * ldc + c0, acc[r][0]);
        _mm256_storeu_ps(c + (r0 + r) * ldc + c0 + LANES, acc[r][1]);
      }
    }
  }
}

#endif

int sp_est_gemm_bf16_dots(sp_cpu_isa isa) {
  return SP_EST_X86 && isa >= SP_CPU_ISA_AVX512_BF16;
}

void sp_est_tile_f32(sp_cpu_isa isa, const float *a, int64_t lda, const float *strip, int64_t depth,
                     float *c, int64_t ldc) {
#if SP_EST_X86
  if (isa >= SP_CPU_ISA_AVX512) {
    sp_tile_f32_avx512(a, lda, strip, depth, c, ldc);
    return;
  }
  if (isa == SP_CPU_ISA_AVX2) {
    sp_tile_f32_avx2(a, lda, strip, depth, c, ldc);
    return;
  }
#else
  (void)isa;
#endif
  sp_tile_f32_portable(a, lda, strip, depth, c, ldc);
}

void sp_est_tile_bf16(sp_cpu_isa isa, const uint16_t *a, int64_t lda, const uint16_t *strip,
                      int64_t pairs, float *c, int64_t ldc) {
#if SP_EST_X86
  if (sp_est_gemm_bf16_dots(isa)) {
    sp_tile_bf16_avx512(a, lda, strip, pairs, c, ldc);
    return;
  }
#else
  (void)isa;
#endif
  sp_tile_bf16_portable(a, lda, strip, pairs, c, ldc);
}
