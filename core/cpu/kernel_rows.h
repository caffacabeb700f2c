/* Row-level building blocks that the CPU kernels share (the prefill
 * kernel, attention.c, and the decode kernel, decode.c): conversion of rows
 * between the storage types and float32 scratch, the few-row ("direct")
 * dot products, prefetching, and the online softmax update (the decode
 * kernel's value update, which also reads bf16 rows in place, is its own). Static
 * inline, so each instruction-set build of a kernel gets its own copy. */
#ifndef SPARSA_CPU_KERNEL_ROWS_H
#define SPARSA_CPU_KERNEL_ROWS_H

#include <float.h>
#include <math.h>
#include <string.h>

#include "convert.h"
#include "cpu_engine.h"
#include "exp2.h"
#include "tile_gemm.h"

#define SP_LOG2E 1.4426950408889634

/* f16 widened by the processor's conversion (vcvtph2ps: exact, like
 * sp_f16_to_f32) where the build has it: AVX-512, or AVX2 with F16C. The
 * integer form of sp_f16_to_f32, vectorized, took about half of a
 * cache-resident f16 decode and made f16 the slowest storage type. */
#if defined(SP_CPU_HAVE_SHUFFLE) && (defined(__AVX512F__) || defined(__F16C__))
#define SP_CPU_HAVE_F16_VECTORS 1
#else
#define SP_CPU_HAVE_F16_VECTORS 0
#endif

#if defined(SP_CPU_HAVE_SHUFFLE)

#if SP_CPU_HAVE_F16_VECTORS
#include <immintrin.h>
#if defined(__AVX512F__)
/* 16 f16 values at `at` (one AVX-512 vector). */
SP_CPU_INLINE sp_f32xV sp_load_f16x16(const uint16_t *at) {
  return (sp_f32xV)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)at));
}
#else /* AVX2 with F16C: the build's native vectors are 8 floats */
_Static_assert(SP_GEMM_LANES == 8, "f16 vectors without AVX-512 are the AVX2 build's");
SP_CPU_INLINE sp_f32xV sp_load_f16x8(const uint16_t *at) {
  return (sp_f32xV)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)at));
}
#endif
#endif

/* SP_GEMM_LANES values (one native vector of the build) at element index
 * at: float32 as they are, bf16 widened (the bits of a bf16 are the high
 * half of its float32), f16 converted (builds with SP_CPU_HAVE_F16_VECTORS
 * only). Native vectors everywhere: 16-float vectors are two AVX2 or four
 * SSE registers, and the loops that carried them went through the stack. */
typedef uint16_t sp_u16xV __attribute__((vector_size(SP_GEMM_LANES * sizeof(uint16_t)), aligned(2)));
typedef uint32_t sp_u32xV __attribute__((vector_size(SP_GEMM_LANES * sizeof(uint32_t)), aligned(4)));

SP_CPU_INLINE sp_f32xV sp_load_native(const void *base, int64_t at, const sparsa_dtype dtype) {
  if (dtype == SPARSA_DTYPE_BF16) {
    sp_u32xV wide = __builtin_convertvector(*(const sp_u16xV *)((const uint16_t *)base + at), sp_u32xV);
    return (sp_f32xV)(wide << 16);
  }
#if SP_CPU_HAVE_F16_VECTORS && SP_GEMM_LANES == 16
  if (dtype == SPARSA_DTYPE_F16) return sp_load_f16x16((const uint16_t *)base + at);
#elif SP_CPU_HAVE_F16_VECTORS
  if (dtype == SPARSA_DTYPE_F16) return sp_load_f16x8((const uint16_t *)base + at);
#endif
  return *(const sp_f32xV *)((const float *)base + at);
}

#endif

/* ---- conversion of rows into float32 scratch ---------------------------- */

SP_CPU_INLINE void sp_load_row(sparsa_dtype dtype, const void *src, int64_t offset, int32_t n,
                               float *dst) {
  if (dtype == SPARSA_DTYPE_F32) {
    const float *s = (const float *)src + offset;
    for (int32_t c = 0; c < n; c++) dst[c] = s[c];
  } else if (dtype == SPARSA_DTYPE_F16) {
    const uint16_t *s = (const uint16_t *)src + offset;
    int32_t c = 0;
#if SP_CPU_HAVE_F16_VECTORS
    for (; c + SP_GEMM_LANES <= n; c += SP_GEMM_LANES)
      *(sp_f32xV *)(dst + c) = sp_load_native(s, c, dtype);
#endif
    for (; c < n; c++) dst[c] = sp_f16_to_f32(s[c]);
  } else {
    /* In native vectors: 16-float conversions went through general
     * registers on AVX2. */
    const uint16_t *s = (const uint16_t *)src + offset;
    int32_t c = 0;
#if defined(SP_CPU_HAVE_SHUFFLE)
    for (; c + SP_GEMM_LANES <= n; c += SP_GEMM_LANES)
      *(sp_f32xV *)(dst + c) = sp_load_native(s, c, dtype);
#endif
    for (; c < n; c++) dst[c] = sp_bf16_to_f32(s[c]);
  }
}

SP_CPU_INLINE void sp_store_row(sparsa_dtype dtype, const float *src, int32_t n, float mul,
                                void *dst, int64_t offset) {
  if (dtype == SPARSA_DTYPE_F32) {
    float *d = (float *)dst + offset;
    for (int32_t c = 0; c < n; c++) d[c] = src[c] * mul;
  } else if (dtype == SPARSA_DTYPE_F16) {
    uint16_t *d = (uint16_t *)dst + offset;
    for (int32_t c = 0; c < n; c++) d[c] = sp_f32_to_f16(src[c] * mul);
  } else {
    uint16_t *d = (uint16_t *)dst + offset;
    for (int32_t c = 0; c < n; c++) d[c] = sp_f32_to_bf16(src[c] * mul);
  }
}

SP_CPU_INLINE void sp_zero_row(sparsa_dtype dtype, int32_t n, void *dst, int64_t offset) {
  size_t elem = dtype == SPARSA_DTYPE_F32 ? 4 : 2;
  memset((unsigned char *)dst + offset * (int64_t)elem, 0, (size_t)n * elem);
}

#if defined(SP_CPU_HAVE_SHUFFLE)

/* t[i][c] -> t[c][i] for a tile of SP_GEMM_LANES x SP_GEMM_LANES floats
 * held in the build's native vectors (16 x 16 on AVX-512, 8 x 8 on AVX2,
 * 4 x 4 on SSE): one stage per bit of the index, the stage of distance d
 * exchanging bit d of the row index with bit d of the column index between
 * rows d apart (64, 24 or 8 two-vector shuffles in all). Each build
 * transposes in its own width: 16 x 16 tiles of 16-float vectors are 32
 * AVX2 registers (or 64 SSE ones) and went through the stack, the key
 * packs ~30% of an AVX2 item of 64 rows that packs each block for one use
 * (decode with q_len 16). */
#define SP_TRANSPOSE_STAGE(t, d, LO, HI)                                      \
  for (int i = 0; i < SP_GEMM_LANES; i++) {                                   \
    if (i & (d)) continue;                                                    \
    const sp_f32xV a = (t)[i], b = (t)[i + (d)];                              \
    (t)[i] = __builtin_shufflevector(a, b, LO);                               \
    (t)[i + (d)] = __builtin_shufflevector(a, b, HI);                         \
  }
#define SP_L(...) __VA_ARGS__

SP_CPU_INLINE void sp_transpose_native(sp_f32xV t[SP_GEMM_LANES]) {
  /* Row i keeps its columns with bit d clear and takes those of row i + d
   * into the ones with bit d set; row i + d takes row i's columns with bit
   * d set into the ones with bit d clear and keeps its own with bit d set. */
#if SP_GEMM_LANES == 16
  SP_TRANSPOSE_STAGE(t, 1, SP_L(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
                     SP_L(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
  SP_TRANSPOSE_STAGE(t, 2, SP_L(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
                     SP_L(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
  SP_TRANSPOSE_STAGE(t, 4, SP_L(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
                     SP_L(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
  SP_TRANSPOSE_STAGE(t, 8, SP_L(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
                     SP_L(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
#elif SP_GEMM_LANES == 8
  SP_TRANSPOSE_STAGE(t, 1, SP_L(0, 8, 2, 10, 4, 12, 6, 14), SP_L(1, 9, 3, 11, 5, 13, 7, 15))
  SP_TRANSPOSE_STAGE(t, 2, SP_L(0, 1, 8, 9, 4, 5, 12, 13), SP_L(2, 3, 10, 11, 6, 7, 14, 15))
  SP_TRANSPOSE_STAGE(t, 4, SP_L(0, 1, 2, 3, 8, 9, 10, 11), SP_L(4, 5, 6, 7, 12, 13, 14, 15))
#else
  _Static_assert(SP_GEMM_LANES == 4, "the tile transpose is written for 16, 8 or 4 lanes");
  SP_TRANSPOSE_STAGE(t, 1, SP_L(0, 4, 2, 6), SP_L(1, 5, 3, 7))
  SP_TRANSPOSE_STAGE(t, 2, SP_L(0, 1, 4, 5), SP_L(2, 3, 6, 7))
#endif
}
#undef SP_L
#undef SP_TRANSPOSE_STAGE

#endif

/* Key block -> kt[d][j] (transposed, ld = cols), columns nk..nk_pad zero.
 * Where vector shuffles exist, keys go SP_GEMM_LANES rows by SP_GEMM_LANES
 * dims at a time through a register transpose: row by row and element by
 * element, the pack took most of an item's time for items of few query
 * rows (decode of 9 to 64 rows a kv head, which packs every block for one
 * use). The last rows of a block, and f16 keys where the build cannot
 * convert them in vectors, go row by row. */
SP_CPU_INLINE void sp_pack_keys(sparsa_dtype dtype, const void *k, int64_t row0_offset,
                                int64_t row_stride, int32_t nk, int32_t nk_pad, int32_t dim,
                                int32_t ld, float *kt, float *row_buf) {
  int32_t j = 0;
#if defined(SP_CPU_HAVE_SHUFFLE)
  enum { L = SP_GEMM_LANES };
  if ((dtype != SPARSA_DTYPE_F16 || SP_CPU_HAVE_F16_VECTORS) && dim % L == 0) {
    for (; j + L <= nk; j += L)
      for (int32_t d0 = 0; d0 < dim; d0 += L) {
        sp_f32xV t[L];
        for (int i = 0; i < L; i++)
          t[i] = sp_load_native(k, row0_offset + (j + i) * row_stride + d0, dtype);
        sp_transpose_native(t);
        for (int i = 0; i < L; i++) *(sp_f32xV *)(kt + (int64_t)(d0 + i) * ld + j) = t[i];
      }
  }
#endif
  for (; j < nk; j++) {
    sp_load_row(dtype, k, row0_offset + j * row_stride, dim, row_buf);
    for (int32_t d = 0; d < dim; d++) kt[(int64_t)d * ld + j] = row_buf[d];
  }
  if (nk < nk_pad)
    for (int32_t d = 0; d < dim; d++) memset(kt + (int64_t)d * ld + nk, 0, (size_t)(nk_pad - nk) * sizeof(float));
}

/* Value block -> v[j][c] (ld = v_cols), rows nk..nk_pad and columns past
 * dim zero. */
SP_CPU_INLINE void sp_pack_values(sparsa_dtype dtype, const void *v, int64_t row0_offset,
                                  int64_t row_stride, int32_t nk, int32_t nk_pad, int32_t dim,
                                  int32_t ld, float *out) {
  for (int32_t j = 0; j < nk; j++) {
    float *row = out + (int64_t)j * ld;
    sp_load_row(dtype, v, row0_offset + j * row_stride, dim, row);
    for (int32_t c = dim; c < ld; c++) row[c] = 0.0f;
  }
  for (int32_t j = nk; j < nk_pad; j++) memset(out + (int64_t)j * ld, 0, (size_t)ld * sizeof(float));
}

/* ---- the direct path for a few query rows -------------------------------- */

/* Decode items have at most SP_CPU_DIRECT_ROWS rows (the stacked heads of a
 * kv group), too few for the prefill kernel's register tiles to pay, and
 * each key and value is used by those rows only: the kernel must stream k
 * and v at memory speed. A score is a dot product along a key row, so the
 * work is vertical: each (row, key) pair gets a vector accumulator, sixteen
 * of them at a time, and one transposing reduction folds the sixteen into
 * their scores. Folding each dot product on its own (a horizontal sum per
 * key and row) costs more than the multiplications. The value update is
 * broadcast-FMA over value rows with the accumulator rows held in
 * registers across the block. */

#if defined(SP_CPU_HAVE_SHUFFLE)

/* Pairwise halving: after step 1, x[i] holds keys 2i and 2i+1 as 8 partial
 * sums each, then 4 keys x 4 partials, 8 keys x 2, and finally the 16 full
 * sums in key order. Written for 16 lanes (one AVX-512 register). */
_Static_assert(SP_CPU_NR == 16, "the lane reduction is written for 16 lanes");

SP_CPU_INLINE void sp_sum_lanes16(sp_f32xN x[16], float *out) {
  for (int i = 0; i < 8; i++)
    x[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19,
                                   20, 21, 22, 23) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25,
                                   26, 27, 28, 29, 30, 31);
  for (int i = 0; i < 4; i++)
    x[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19,
                                   24, 25, 26, 27) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22,
                                   23, 28, 29, 30, 31);
  for (int i = 0; i < 2; i++)
    x[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21,
                                   24, 25, 28, 29) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22,
                                   23, 26, 27, 30, 31);
  *(sp_f32xN *)out =
      __builtin_shufflevector(x[0], x[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                              30) +
      __builtin_shufflevector(x[0], x[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29,
                                 31);
}

/* The vectors of the score tile below: the build's own, 16 floats on
 * AVX-512, 8 on AVX2, 4 on SSE. Written with 16-float vectors, sixteen
 * accumulators were 32 AVX2 (64 SSE) registers and spilled: that loop was
 * 62% of a cache-resident f32 decode on the AVX2 path, and eight 8-float
 * accumulators ran it 2-3x faster. As many accumulators as lanes, folded
 * by one transposing sum. */
#define SP_SCORE_LANES SP_GEMM_LANES
typedef sp_f32xV sp_score_vec;
typedef uint32_t sp_u32xV_u2 __attribute__((vector_size(SP_GEMM_LANES * sizeof(uint32_t)), aligned(2)));

/* 2 * SP_SCORE_LANES bf16 values as SP_SCORE_LANES pairs: one load and two
 * integer operations widen them all (the bf16 bits are the high half of a
 * float32), the even-indexed values into *even and the odd ones into *odd. */
SP_CPU_INLINE void sp_score_pairs(const uint16_t *at, sp_score_vec *even, sp_score_vec *odd) {
  const sp_u32xV_u2 pairs = *(const sp_u32xV_u2 *)at;
  *even = (sp_score_vec)(pairs << 16);
  *odd = (sp_score_vec)(pairs & 0xffff0000u);
}

/* x[i] (key i's SP_SCORE_LANES partial sums) -> out[i] for SP_SCORE_LANES
 * keys: halves, quarters, ... pairs, as sp_sum_lanes16 does for 16. */
#if SP_GEMM_LANES == 16
SP_CPU_INLINE void sp_score_fold(sp_score_vec x[16], float *out) {
  sp_sum_lanes16(x, out);
}
#elif SP_GEMM_LANES == 8
SP_CPU_INLINE void sp_score_fold(sp_score_vec x[8], float *out) {
  for (int i = 0; i < 4; i++)
    x[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15);
  for (int i = 0; i < 2; i++)
    x[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15);
  *(sp_score_vec *)out = __builtin_shufflevector(x[0], x[1], 0, 2, 4, 6, 8, 10, 12, 14) +
                         __builtin_shufflevector(x[0], x[1], 1, 3, 5, 7, 9, 11, 13, 15);
}
#else
_Static_assert(SP_GEMM_LANES == 4, "the score fold is written for 16, 8 or 4 lanes");
SP_CPU_INLINE void sp_score_fold(sp_score_vec x[4], float *out) {
  for (int i = 0; i < 2; i++)
    x[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 4, 5) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 2, 3, 6, 7);
  *(sp_score_vec *)out = __builtin_shufflevector(x[0], x[1], 0, 2, 4, 6) +
                         __builtin_shufflevector(x[0], x[1], 1, 3, 5, 7);
}
#endif

/* Two vectors of consecutive columns -> their even and odd columns (the
 * order sp_score_pairs widens bf16 values in), and back: for the decode
 * kernel's bf16 values, widened in pairs. */
#if SP_GEMM_LANES == 16
SP_CPU_INLINE void sp_score_split(sp_score_vec lo, sp_score_vec hi, sp_score_vec *even, sp_score_vec *odd) {
  *even = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  *odd = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

SP_CPU_INLINE void sp_score_interleave(sp_score_vec even, sp_score_vec odd, sp_score_vec *lo, sp_score_vec *hi) {
  *lo = __builtin_shufflevector(even, odd, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  *hi = __builtin_shufflevector(even, odd, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}
#elif SP_GEMM_LANES == 8
SP_CPU_INLINE void sp_score_split(sp_score_vec lo, sp_score_vec hi, sp_score_vec *even, sp_score_vec *odd) {
  *even = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
  *odd = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
}

SP_CPU_INLINE void sp_score_interleave(sp_score_vec even, sp_score_vec odd, sp_score_vec *lo, sp_score_vec *hi) {
  *lo = __builtin_shufflevector(even, odd, 0, 8, 1, 9, 2, 10, 3, 11);
  *hi = __builtin_shufflevector(even, odd, 4, 12, 5, 13, 6, 14, 7, 15);
}
#else
SP_CPU_INLINE void sp_score_split(sp_score_vec lo, sp_score_vec hi, sp_score_vec *even, sp_score_vec *odd) {
  *even = __builtin_shufflevector(lo, hi, 0, 2, 4, 6);
  *odd = __builtin_shufflevector(lo, hi, 1, 3, 5, 7);
}

SP_CPU_INLINE void sp_score_interleave(sp_score_vec even, sp_score_vec odd, sp_score_vec *lo, sp_score_vec *hi) {
  *lo = __builtin_shufflevector(even, odd, 0, 4, 1, 5);
  *hi = __builtin_shufflevector(even, odd, 2, 6, 3, 7);
}
#endif

/* The scores of R query rows against the SP_CPU_NR keys at k (rows ld_k
 * elements apart), SP_SCORE_LANES / R keys at a time: the accumulators of
 * R rows by SP_SCORE_LANES / R keys, so that (AVX-512) four rows read four
 * key rows per step, four pointers where one accumulator a key for
 * sixteen keys took sixteen, more than the registers the compiler had
 * left (it reloaded one from the stack for every two products), and each
 * key row loaded is used by R rows.
 * float32 keys: q rows are float32, dim floats apart, and lane c of a dot
 * product sums the dims c, c + SP_SCORE_LANES, ... in order (so each
 * path's scores differ from the others' by rounding); dims past the last
 * multiple of SP_SCORE_LANES are added after the fold. f16 keys (builds
 * with SP_CPU_HAVE_F16_VECTORS; dim a multiple of SP_SCORE_LANES) are
 * converted as they are loaded, the same products in the same order. bf16
 * keys are widened in registers 2 * SP_SCORE_LANES at a time,
 * as pairs (sp_score_pairs): q rows then hold each run of 2 *
 * SP_SCORE_LANES dims as its even-indexed values and then its odd ones
 * (sp_load_row_pairs), and dim is a multiple of 32. The widening takes two
 * integer operations a vector of pairs; converting the keys into float32
 * scratch first took nine instructions for 16 (and a store and reload), a
 * third of a cache-resident bf16 decode's time. */
SP_CPU_INLINE void sp_scores_tile(const void *k, int64_t ld_k, const sparsa_dtype dtype,
                                  const float *q, int32_t dim, const int R, float *s, int32_t ld_s) {
  enum { ACC = SP_SCORE_LANES };
  const int bf16 = dtype == SPARSA_DTYPE_BF16;
  const int keys = ACC / R;
  const int32_t step = bf16 ? 2 * ACC : ACC;
  const int32_t dim_vec = dim / step * step;
  for (int j0 = 0; j0 < SP_CPU_NR; j0 += keys) {
    sp_score_vec acc[ACC];
    for (int i = 0; i < ACC; i++) acc[i] = (sp_score_vec){0};
    for (int32_t d0 = 0; d0 < dim_vec; d0 += step) {
      if (bf16) {
        sp_score_vec even[ACC], odd[ACC];
        for (int j = 0; j < keys; j++)
          sp_score_pairs((const uint16_t *)k + (j0 + j) * ld_k + d0, &even[j], &odd[j]);
        for (int r = 0; r < R; r++) {
          const sp_score_vec qe = *(const sp_score_vec *)(q + (int64_t)r * dim + d0);
          const sp_score_vec qo = *(const sp_score_vec *)(q + (int64_t)r * dim + d0 + ACC);
          for (int j = 0; j < keys; j++) {
            acc[r * keys + j] += qe * even[j];
            acc[r * keys + j] += qo * odd[j];
          }
        }
      } else {
        sp_score_vec key[ACC];
        for (int j = 0; j < keys; j++) key[j] = sp_load_native(k, (j0 + j) * ld_k + d0, dtype);
        for (int r = 0; r < R; r++) {
          const sp_score_vec qv = *(const sp_score_vec *)(q + (int64_t)r * dim + d0);
          for (int j = 0; j < keys; j++) acc[r * keys + j] += qv * key[j];
        }
      }
    }
    float sums[ACC];
    sp_score_fold(acc, sums);
    for (int r = 0; r < R; r++) {
      float *sr = s + (int64_t)r * ld_s + j0;
      for (int j = 0; j < keys; j++) sr[j] = sums[r * keys + j];
      for (int32_t d = dim_vec; d < dim; d++) /* float32 only: 16-bit dims are whole runs */
        for (int j = 0; j < keys; j++) sr[j] += q[(int64_t)r * dim + d] * ((const float *)k)[(j0 + j) * ld_k + d];
    }
  }
}

/* s[r][j] = q[r] . k[j] for r < rows and the SP_CPU_NR keys at k, rows in
 * tiles of 4, 2 and 1 (constants, so that each tile's loops unroll). */
SP_CPU_INLINE void sp_scores_rows(const void *k, int64_t ld_k, const sparsa_dtype dtype,
                                  const float *q, int32_t rows, int32_t dim, float *s, int32_t ld_s) {
  int32_t r0 = 0;
  for (; r0 + 4 <= rows; r0 += 4)
    sp_scores_tile(k, ld_k, dtype, q + (int64_t)r0 * dim, dim, 4, s + (int64_t)r0 * ld_s, ld_s);
  if (r0 + 2 <= rows) {
    sp_scores_tile(k, ld_k, dtype, q + (int64_t)r0 * dim, dim, 2, s + (int64_t)r0 * ld_s, ld_s);
    r0 += 2;
  }
  if (r0 < rows) sp_scores_tile(k, ld_k, dtype, q + (int64_t)r0 * dim, dim, 1, s + (int64_t)r0 * ld_s, ld_s);
}

/* float32 keys (kb rows ld_k floats apart) and float32 q rows. */
SP_CPU_INLINE void sp_scores_direct(const float *kb, int64_t ld_k, const float *q, int32_t rows,
                                    int32_t dim, float *s, int32_t ld_s) {
  sp_scores_rows(kb, ld_k, SPARSA_DTYPE_F32, q, rows, dim, s, ld_s);
}

#if SP_CPU_HAVE_F16_VECTORS
/* f16 keys as stored against float32 q rows; dim a multiple of
 * SP_SCORE_LANES. */
SP_CPU_INLINE void sp_scores_direct_f16(const uint16_t *k, int64_t ld_k, const float *q,
                                        int32_t rows, int32_t dim, float *s, int32_t ld_s) {
  sp_scores_rows(k, ld_k, SPARSA_DTYPE_F16, q, rows, dim, s, ld_s);
}
#endif

/* bf16 keys as stored against q rows in pairs order (sp_load_row_pairs);
 * dim a multiple of 2 * SP_CPU_NR. */
SP_CPU_INLINE void sp_scores_direct_bf16(const uint16_t *k, int64_t ld_k, const float *q,
                                         int32_t rows, int32_t dim, float *s, int32_t ld_s) {
  sp_scores_rows(k, ld_k, SPARSA_DTYPE_BF16, q, rows, dim, s, ld_s);
}

/* A bf16 row of dim elements (a multiple of 2 * SP_CPU_NR) into float32 in
 * the order sp_scores_direct_bf16 reads q in: each run of 2 *
 * SP_SCORE_LANES dims as its even-indexed values, then its odd ones. */
SP_CPU_INLINE void sp_load_row_pairs(const uint16_t *src, int32_t dim, float *dst) {
  for (int32_t d0 = 0; d0 < dim; d0 += 2 * SP_SCORE_LANES)
    for (int32_t i = 0; i < SP_SCORE_LANES; i++) {
      dst[d0 + i] = sp_bf16_to_f32(src[d0 + 2 * i]);
      dst[d0 + SP_SCORE_LANES + i] = sp_bf16_to_f32(src[d0 + 2 * i + 1]);
    }
}

#else /* portable loops: the same order of work, lanes as arrays */

SP_CPU_INLINE void sp_scores_direct(const float *kb, int64_t ld_k, const float *q, int32_t rows,
                                    int32_t dim, float *s, int32_t ld_s) {
  for (int32_t r = 0; r < rows; r++) {
    const float *qr = q + (int64_t)r * dim;
    for (int32_t j = 0; j < SP_CPU_NR; j++) {
      const float *kj = kb + j * ld_k;
      float dot = 0.0f;
      for (int32_t d = 0; d < dim; d++) dot += qr[d] * kj[d];
      s[(int64_t)r * ld_s + j] = dot;
    }
  }
}

#endif

/* Prefetches n rows of dim elements (64-byte lines) starting at offset:
 * into L1 and L2, or with l2_only into L2 alone (prefetcht2), for rows
 * whose stride maps many of them onto the same few L1 sets, where lines
 * requested ahead would evict the rows being worked on. */
SP_CPU_INLINE void sp_prefetch_rows(sparsa_dtype dtype, const void *base, int64_t offset,
                                    int64_t row_stride, int32_t n, int32_t dim, const int l2_only) {
#if defined(__GNUC__)
  const int64_t elem = dtype == SPARSA_DTYPE_F32 ? 4 : 2;
  const unsigned char *b = (const unsigned char *)base;
  for (int32_t j = 0; j < n; j++) {
    const unsigned char *row = b + (offset + j * row_stride) * elem;
    for (int64_t at = 0; at < dim * elem; at += 64) {
      if (l2_only) __builtin_prefetch(row + at, 0, 1);
      else __builtin_prefetch(row + at);
    }
  }
#else
  (void)dtype, (void)base, (void)offset, (void)row_stride, (void)n, (void)dim, (void)l2_only;
#endif
}

/* ---- online softmax ----------------------------------------------------- */

/* The online softmax's steps for one row around its block maximum: the
 * new running maximum of the base-2 scores from the raw maximum, and, once
 * the block's probabilities are summed, the fold of that sum into the
 * running state (the accumulator row rescaled where the maximum rose). */
SP_CPU_INLINE float sp_softmax_new_max(float raw_max, float score_mul, float old_max) {
  float block_max = raw_max * score_mul;
  /* A score that overflowed to +inf counts as the largest finite one, so
   * that score - max stays a number and such keys share the row's mass. */
  block_max = block_max < FLT_MAX ? block_max : (block_max == block_max ? FLT_MAX : block_max);
  return block_max > old_max ? block_max : old_max;
}

SP_CPU_INLINE void sp_softmax_fold_row(float new_max, float sum, float *row_max, float *row_sum,
                                       float *acc_row, int32_t acc_cols) {
  if (new_max != *row_max) {
    const float alpha = sp_exp2_nonpositive(*row_max - new_max); /* 0 when the old max is -inf */
    for (int32_t c = 0; c < acc_cols; c++) acc_row[c] *= alpha;
    *row_sum *= alpha;
    *row_max = new_max;
  }
  *row_sum += sum;
}

#if defined(SP_CPU_HAVE_SHUFFLE)

/* The four rows' lanes (x[k][]: row k's SP_LANE_PARTS native vectors)
 * folded into one native vector, row k's result in its lane
 * SP_FOLD4_LANE(k): lanes i and i + 8 of each row meet first, then i and
 * i + 4, i ^ 2 and i ^ 1, the tree of sp_row_max and sp_row_sum, so each
 * row's result is the one those give (bit for bit: the same additions of
 * the same pairs) on every path. Where a row spans several vectors those
 * first steps pair whole vectors (part p with part p + half the parts);
 * the rest shuffle lanes, all four rows together: folded one at a time,
 * the four steps of a shuffle and an operation took 32 operations a
 * group, where together they take 13, each step serving four rows. (The
 * lanes were 16-float vectors on every path; on AVX2 their shuffles went
 * through the stack, element by element.) */
#define SP_FOLD4_LANE(k) ((k) * (SP_GEMM_LANES / 4))

#if SP_GEMM_LANES == 16
#define SP_FOLD4_LANES(x0, x1, x2, x3, OP, out)                                                  \
  do {                                                                                           \
    const sp_f32xV ab_ = OP(__builtin_shufflevector(x0, x1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18,  \
                                                    19, 20, 21, 22, 23),                         \
                            __builtin_shufflevector(x0, x1, 8, 9, 10, 11, 12, 13, 14, 15, 24,    \
                                                    25, 26, 27, 28, 29, 30, 31));                \
    const sp_f32xV cd_ = OP(__builtin_shufflevector(x2, x3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18,  \
                                                    19, 20, 21, 22, 23),                         \
                            __builtin_shufflevector(x2, x3, 8, 9, 10, 11, 12, 13, 14, 15, 24,    \
                                                    25, 26, 27, 28, 29, 30, 31));                \
    sp_f32xV all_ = OP(__builtin_shufflevector(ab_, cd_, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18,  \
                                               19, 24, 25, 26, 27),                              \
                       __builtin_shufflevector(ab_, cd_, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, \
                                               23, 28, 29, 30, 31));                             \
    all_ = OP(all_, __builtin_shufflevector(all_, all_, SP_LANES_SWAP2));                        \
    (out) = OP(all_, __builtin_shufflevector(all_, all_, SP_LANES_SWAP1));                       \
  } while (0)
#elif SP_GEMM_LANES == 8
#define SP_FOLD4_LANES(x0, x1, x2, x3, OP, out)                                                  \
  do {                                                                                           \
    const sp_f32xV ab_ = OP(__builtin_shufflevector(x0, x1, 0, 1, 2, 3, 8, 9, 10, 11),           \
                            __builtin_shufflevector(x0, x1, 4, 5, 6, 7, 12, 13, 14, 15));        \
    const sp_f32xV cd_ = OP(__builtin_shufflevector(x2, x3, 0, 1, 2, 3, 8, 9, 10, 11),           \
                            __builtin_shufflevector(x2, x3, 4, 5, 6, 7, 12, 13, 14, 15));        \
    const sp_f32xV all_ = OP(__builtin_shufflevector(ab_, cd_, 0, 1, 4, 5, 8, 9, 12, 13),        \
                             __builtin_shufflevector(ab_, cd_, 2, 3, 6, 7, 10, 11, 14, 15));     \
    (out) = OP(all_, __builtin_shufflevector(all_, all_, 1, 0, 3, 2, 5, 4, 7, 6));               \
  } while (0)
#else
_Static_assert(SP_GEMM_LANES == 4, "the four-row folds are written for 16, 8 or 4 lanes");
#define SP_FOLD4_LANES(x0, x1, x2, x3, OP, out)                                                  \
  do {                                                                                           \
    const sp_f32xV ab_ = OP(__builtin_shufflevector(x0, x1, 0, 1, 4, 5),                         \
                            __builtin_shufflevector(x0, x1, 2, 3, 6, 7));                        \
    const sp_f32xV cd_ = OP(__builtin_shufflevector(x2, x3, 0, 1, 4, 5),                         \
                            __builtin_shufflevector(x2, x3, 2, 3, 6, 7));                        \
    (out) = OP(__builtin_shufflevector(ab_, cd_, 0, 2, 4, 6),                                    \
               __builtin_shufflevector(ab_, cd_, 1, 3, 5, 7));                                   \
  } while (0)
#endif

#define SP_FOLD4(x, OP, out)                                                                     \
  do {                                                                                           \
    for (int k_ = 0; k_ < 4; k_++)                                                               \
      for (int half_ = SP_LANE_PARTS / 2; half_ >= 1; half_ /= 2)                                \
        for (int p_ = 0; p_ < half_; p_++) (x)[k_][p_] = OP((x)[k_][p_], (x)[k_][p_ + half_]);   \
    SP_FOLD4_LANES((x)[0][0], (x)[1][0], (x)[2][0], (x)[3][0], OP, out);                         \
  } while (0)

SP_CPU_INLINE sp_f32xV sp_vec_max(sp_f32xV a, sp_f32xV b) {
  SP_MAX_INTO(a, b, sp_f32xV, sp_i32xV);
  return a;
}
#define SP_VEC_ADD(a, b) ((a) + (b))

/* x[j] = 2^(x[j] * score_mul - max) over a row of n floats (n a multiple
 * of SP_CPU_NR), and part[] = the lane sums of the results (SP_LANES_SUM,
 * as sp_row_sum sums them). (The exponentials go first over the whole row: a
 * loop of one vector's lanes at a time did not vectorize in the AVX2 and
 * SSE builds.) */
SP_CPU_INLINE void sp_exp_row_lanes(float *x, int32_t n, float score_mul, float max,
                                    sp_f32xV part[SP_LANE_PARTS]) {
  for (int32_t j = 0; j < n; j++) x[j] = sp_exp2_nonpositive(x[j] * score_mul - max);
  SP_LANES_SUM(part, x, n);
}

#endif

/* Folds one block of dot products (row i: s[i][0..cols)) into the running
 * max and sum of the base-2 scores s * score_mul, turns them into
 * probabilities in place and rescales the accumulator rows. score_mul > 0,
 * so the block maximum of the scaled scores is the scaled maximum (rounding
 * is monotone). A row whose maximum is still -inf has seen no key: its
 * probabilities are 0 and nothing is rescaled. Where vector shuffles
 * exist, rows go four at a time, their maxima and sums folded together
 * (SP_FOLD4): one row at a time, the two folds' dependent steps were ~5%
 * of a dense prefill's samples on an Ice Lake core. */
SP_CPU_INLINE void sp_softmax_update(float *s, int32_t ld_s, int32_t rows, int32_t cols,
                                     float score_mul, float *row_max, float *row_sum, float *acc,
                                     int32_t ld_acc, int32_t acc_cols) {
  int32_t i = 0;
#if defined(SP_CPU_HAVE_SHUFFLE)
  for (; i + 4 <= rows; i += 4) {
    sp_f32xV lanes[4][SP_LANE_PARTS], folded;
    float new_max[4];
    for (int k = 0; k < 4; k++) SP_LANES_MAX(lanes[k], s + (int64_t)(i + k) * ld_s, cols);
    SP_FOLD4(lanes, sp_vec_max, folded);
    for (int k = 0; k < 4; k++)
      new_max[k] = sp_softmax_new_max(folded[SP_FOLD4_LANE(k)], score_mul, row_max[i + k]);
    for (int k = 0; k < 4; k++) {
      float *si = s + (int64_t)(i + k) * ld_s;
      if (new_max[k] == -INFINITY) {
        memset(si, 0, (size_t)cols * sizeof(float));
        for (int p = 0; p < SP_LANE_PARTS; p++) lanes[k][p] = (sp_f32xV){0};
      } else {
        sp_exp_row_lanes(si, cols, score_mul, new_max[k], lanes[k]);
      }
    }
    SP_FOLD4(lanes, SP_VEC_ADD, folded);
    for (int k = 0; k < 4; k++)
      if (new_max[k] != -INFINITY)
        sp_softmax_fold_row(new_max[k], folded[SP_FOLD4_LANE(k)], row_max + i + k, row_sum + i + k,
                            acc + (int64_t)(i + k) * ld_acc, acc_cols);
  }
#endif
  for (; i < rows; i++) {
    float *si = s + (int64_t)i * ld_s;
    const float new_max = sp_softmax_new_max(sp_row_max(si, cols), score_mul, row_max[i]);
    if (new_max == -INFINITY) {
      memset(si, 0, (size_t)cols * sizeof(float));
      continue;
    }
    for (int32_t j = 0; j < cols; j++) si[j] = sp_exp2_nonpositive(si[j] * score_mul - new_max);
    sp_softmax_fold_row(new_max, sp_row_sum(si, cols), row_max + i, row_sum + i,
                        acc + (int64_t)i * ld_acc, acc_cols);
  }
}

#endif
