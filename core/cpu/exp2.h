/* A vectorizable 2^x for the softmax passes of the CPU attention kernel
 * and of the estimators: plain arithmetic, no table and no branch, so that
 * each instruction-set clone of a loop calling it runs at vector width. */
#ifndef SPARSA_CPU_EXP2_H
#define SPARSA_CPU_EXP2_H

#include "convert.h"
#include "tile_gemm.h" /* SP_CPU_INLINE */

#ifndef SP_LN2
#define SP_LN2 0.6931471805599453
#endif

/* 2^x for x <= 0 (scores minus their running maximum), with 2^-inf = 0.
 * Written branch-free over plain arithmetic so loops over it vectorize: x
 * splits into the nearest integer n and f in [-0.5, 0.5]; 2^f comes from
 * its degree-7 Taylor polynomial in f ln 2 (relative error < 1e-8, below
 * float rounding), and 2^n is built in the exponent bits. n <= -127 gives
 * an exponent field of 0, i.e. exactly 0. */
SP_CPU_INLINE float sp_exp2_nonpositive(float x) {
  /* Clamped to [-127, 0], NaN to -127: scores that overflowed float32 (a
   * huge scale) must give finite weights, never an out-of-range conversion. */
  x = x > -127.0f ? x : -127.0f;
  x = x < 0.0f ? x : 0.0f;
  const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  float n = (x + round_magic) - round_magic;
  float f = (x - n) * (float)SP_LN2;
  float poly = 1.0f / 5040.0f;
  poly = poly * f + 1.0f / 720.0f;
  poly = poly * f + 1.0f / 120.0f;
  poly = poly * f + 1.0f / 24.0f;
  poly = poly * f + 1.0f / 6.0f;
  poly = poly * f + 0.5f;
  poly = poly * f + 1.0f;
  poly = poly * f + 1.0f;
  uint32_t scale_bits = (uint32_t)((int32_t)n + 127) << 23;
  return poly * sp_bits_to_f32(scale_bits);
}

#endif
