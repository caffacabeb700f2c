/* The two small GEMMs of the CPU attention kernel, over register tiles of
 * SP_CPU_MR rows by one or two vectors of SP_CPU_NR floats:
 *
 *   S = Q K^T:  s[rows][ld_s]  = q[rows][dim] . kt[dim][cols]
 *   O += P V:   o[rows][ld_o] += p[rows][depth] . v[depth][cols]
 *
 * rows is a multiple of SP_CPU_MR and cols of SP_CPU_NR (the caller pads).
 * Each output tile stays in registers across the whole reduction; each
 * step loads one or two vectors of the packed operand and broadcasts one
 * scalar per row. With GCC or Clang the tiles are written with vector
 * extensions, which each instruction-set build of the kernel lowers to its
 * own registers (16 floats = one AVX-512 register, two AVX2, four SSE);
 * other compilers get the plain loops. Static inline: the kernel builds
 * inline them. Also the row reductions of the softmax. */
#ifndef SPARSA_CPU_TILE_GEMM_H
#define SPARSA_CPU_TILE_GEMM_H

#include <stdint.h>

#include "cpu_engine.h"

/* Forced inlining: each instruction-set build of the kernel must get its
 * own copy of these loops, not a call into the baseline build of them. */
#if defined(__GNUC__)
#define SP_CPU_INLINE static inline __attribute__((always_inline))
#else
#define SP_CPU_INLINE static inline
#endif

/* Maximum and sum of a row of n floats, n a multiple of SP_CPU_NR, kept in
 * SP_CPU_NR independent lanes (one vector) and folded at the end: a plain
 * running float sum would force an in-order, one-lane-at-a-time reduction
 * (reassociating floats is not allowed without being asked). */
SP_CPU_INLINE float sp_row_max(const float *x, int32_t n) {
  float lane[SP_CPU_NR];
  for (int c = 0; c < SP_CPU_NR; c++) lane[c] = x[c];
  for (int32_t j0 = SP_CPU_NR; j0 < n; j0 += SP_CPU_NR)
    for (int c = 0; c < SP_CPU_NR; c++) lane[c] = x[j0 + c] > lane[c] ? x[j0 + c] : lane[c];
  float m = lane[0];
  for (int c = 1; c < SP_CPU_NR; c++) m = lane[c] > m ? lane[c] : m;
  return m;
}

SP_CPU_INLINE float sp_row_sum(const float *x, int32_t n) {
  float lane[SP_CPU_NR];
  for (int c = 0; c < SP_CPU_NR; c++) lane[c] = x[c];
  for (int32_t j0 = SP_CPU_NR; j0 < n; j0 += SP_CPU_NR)
    for (int c = 0; c < SP_CPU_NR; c++) lane[c] += x[j0 + c];
  float total = 0.0f;
  for (int c = 0; c < SP_CPU_NR; c++) total += lane[c];
  return total;
}

#if defined(__GNUC__)

/* aligned(4): loads and stores need only float alignment. */
typedef float sp_f32xN __attribute__((vector_size(SP_CPU_NR * sizeof(float)), aligned(4)));

SP_CPU_INLINE void sp_gemm_qk(const float *q, int32_t rows, int32_t dim, const float *kt,
                              int32_t ld_kt, int32_t cols, float *s, int32_t ld_s) {
  for (int32_t i0 = 0; i0 < rows; i0 += SP_CPU_MR) {
    const float *qa = q + (int64_t)i0 * dim;
    int32_t j0 = 0;
    for (; j0 + 2 * SP_CPU_NR <= cols; j0 += 2 * SP_CPU_NR) {
      sp_f32xN a0[SP_CPU_MR], a1[SP_CPU_MR];
      for (int r = 0; r < SP_CPU_MR; r++) a0[r] = a1[r] = (sp_f32xN){0};
      for (int32_t d = 0; d < dim; d++) {
        const float *kr = kt + (int64_t)d * ld_kt + j0;
        sp_f32xN k0 = *(const sp_f32xN *)kr, k1 = *(const sp_f32xN *)(kr + SP_CPU_NR);
        for (int r = 0; r < SP_CPU_MR; r++) {
          float x = qa[(int64_t)r * dim + d];
          a0[r] += x * k0;
          a1[r] += x * k1;
        }
      }
      for (int r = 0; r < SP_CPU_MR; r++) {
        float *sr = s + (int64_t)(i0 + r) * ld_s + j0;
        *(sp_f32xN *)sr = a0[r];
        *(sp_f32xN *)(sr + SP_CPU_NR) = a1[r];
      }
    }
    if (j0 < cols) {
      sp_f32xN a0[SP_CPU_MR];
      for (int r = 0; r < SP_CPU_MR; r++) a0[r] = (sp_f32xN){0};
      for (int32_t d = 0; d < dim; d++) {
        sp_f32xN k0 = *(const sp_f32xN *)(kt + (int64_t)d * ld_kt + j0);
        for (int r = 0; r < SP_CPU_MR; r++) a0[r] += qa[(int64_t)r * dim + d] * k0;
      }
      for (int r = 0; r < SP_CPU_MR; r++) *(sp_f32xN *)(s + (int64_t)(i0 + r) * ld_s + j0) = a0[r];
    }
  }
}

SP_CPU_INLINE void sp_gemm_pv(const float *p, int32_t ld_p, int32_t rows, int32_t depth,
                              const float *v, int32_t ld_v, int32_t cols, float *o, int32_t ld_o) {
  for (int32_t i0 = 0; i0 < rows; i0 += SP_CPU_MR) {
    const float *pa = p + (int64_t)i0 * ld_p;
    int32_t c0 = 0;
    for (; c0 + 2 * SP_CPU_NR <= cols; c0 += 2 * SP_CPU_NR) {
      sp_f32xN a0[SP_CPU_MR], a1[SP_CPU_MR];
      for (int r = 0; r < SP_CPU_MR; r++) {
        const float *orow = o + (int64_t)(i0 + r) * ld_o + c0;
        a0[r] = *(const sp_f32xN *)orow;
        a1[r] = *(const sp_f32xN *)(orow + SP_CPU_NR);
      }
      for (int32_t j = 0; j < depth; j++) {
        const float *vr = v + (int64_t)j * ld_v + c0;
        sp_f32xN v0 = *(const sp_f32xN *)vr, v1 = *(const sp_f32xN *)(vr + SP_CPU_NR);
        for (int r = 0; r < SP_CPU_MR; r++) {
          float x = pa[(int64_t)r * ld_p + j];
          a0[r] += x * v0;
          a1[r] += x * v1;
        }
      }
      for (int r = 0; r < SP_CPU_MR; r++) {
        float *orow = o + (int64_t)(i0 + r) * ld_o + c0;
        *(sp_f32xN *)orow = a0[r];
        *(sp_f32xN *)(orow + SP_CPU_NR) = a1[r];
      }
    }
    if (c0 < cols) {
      sp_f32xN a0[SP_CPU_MR];
      for (int r = 0; r < SP_CPU_MR; r++) a0[r] = *(const sp_f32xN *)(o + (int64_t)(i0 + r) * ld_o + c0);
      for (int32_t j = 0; j < depth; j++) {
        sp_f32xN v0 = *(const sp_f32xN *)(v + (int64_t)j * ld_v + c0);
        for (int r = 0; r < SP_CPU_MR; r++) a0[r] += pa[(int64_t)r * ld_p + j] * v0;
      }
      for (int r = 0; r < SP_CPU_MR; r++) *(sp_f32xN *)(o + (int64_t)(i0 + r) * ld_o + c0) = a0[r];
    }
  }
}

#else /* portable loops */

SP_CPU_INLINE void sp_gemm_qk(const float *q, int32_t rows, int32_t dim, const float *kt,
                              int32_t ld_kt, int32_t cols, float *s, int32_t ld_s) {
  for (int32_t i0 = 0; i0 < rows; i0 += SP_CPU_MR) {
    for (int32_t j0 = 0; j0 < cols; j0 += SP_CPU_NR) {
      float acc[SP_CPU_MR][SP_CPU_NR] = {{0}};
      const float *qa = q + (int64_t)i0 * dim;
      for (int32_t d = 0; d < dim; d++) {
        const float *kr = kt + (int64_t)d * ld_kt + j0;
        for (int r = 0; r < SP_CPU_MR; r++) {
          float a = qa[(int64_t)r * dim + d];
          for (int c = 0; c < SP_CPU_NR; c++) acc[r][c] += a * kr[c];
        }
      }
      for (int r = 0; r < SP_CPU_MR; r++)
        for (int c = 0; c < SP_CPU_NR; c++) s[(int64_t)(i0 + r) * ld_s + j0 + c] = acc[r][c];
    }
  }
}

SP_CPU_INLINE void sp_gemm_pv(const float *p, int32_t ld_p, int32_t rows, int32_t depth,
                              const float *v, int32_t ld_v, int32_t cols, float *o, int32_t ld_o) {
  for (int32_t i0 = 0; i0 < rows; i0 += SP_CPU_MR) {
    for (int32_t c0 = 0; c0 < cols; c0 += SP_CPU_NR) {
      float acc[SP_CPU_MR][SP_CPU_NR];
      for (int r = 0; r < SP_CPU_MR; r++)
        for (int c = 0; c < SP_CPU_NR; c++) acc[r][c] = o[(int64_t)(i0 + r) * ld_o + c0 + c];
      for (int32_t j = 0; j < depth; j++) {
        const float *vr = v + (int64_t)j * ld_v + c0;
        for (int r = 0; r < SP_CPU_MR; r++) {
          float a = p[(int64_t)(i0 + r) * ld_p + j];
          for (int c = 0; c < SP_CPU_NR; c++) acc[r][c] += a * vr[c];
        }
      }
      for (int r = 0; r < SP_CPU_MR; r++)
        for (int c = 0; c < SP_CPU_NR; c++) o[(int64_t)(i0 + r) * ld_o + c0 + c] = acc[r][c];
    }
  }
}

#endif

#endif
