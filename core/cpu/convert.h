/* Scalar conversions between the storage types and float32, written as
 * plain integer arithmetic so that loops over them vectorize and behave the
 * same on every compiler: f16 and bf16 widen exactly; narrowing rounds to
 * nearest, ties to even, and keeps NaN a (quiet) NaN. */
#ifndef SPARSA_CPU_CONVERT_H
#define SPARSA_CPU_CONVERT_H

#include <stdint.h>
#include <string.h>

static inline float sp_bits_to_f32(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static inline uint32_t sp_f32_to_bits(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  return bits;
}

static inline float sp_bf16_to_f32(uint16_t h) { return sp_bits_to_f32((uint32_t)h << 16); }

static inline uint16_t sp_f32_to_bf16(float f) {
  uint32_t bits = sp_f32_to_bits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x0040u);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return (uint16_t)((bits + rounding) >> 16);
}

/* Exact: normal and subnormal halves are scaled into binary32 by one
 * multiplication (the "magic number" method), infinities and NaN by bits. */
static inline float sp_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t rest = (uint32_t)(h & 0x7fffu);
  float magnitude;
  if (rest >= 0x7c00u) {
    magnitude = sp_bits_to_f32(0x7f800000u | (rest & 0x3ffu) << 13);
  } else {
    /* rest << 13 places exponent and mantissa in binary32 position with a
     * bias of 15 instead of 127: multiply by 2^112 to rebias (exact, also
     * for subnormal halves). */
    magnitude = sp_bits_to_f32(rest << 13) * 0x1p112f;
  }
  return sp_bits_to_f32(sp_f32_to_bits(magnitude) | sign);
}

static inline uint16_t sp_f32_to_f16(float f) {
  uint32_t bits = sp_f32_to_bits(f);
  uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
  uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);        /* NaN */
  if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);       /* rounds to inf */
  if (abs < 0x38800000u) {
    /* Result is subnormal (or zero): adding 0.5 lets the FPU round the
     * mantissa at the 2^-24 position, ties to even. */
    float shifted = sp_bits_to_f32(abs) + 0.5f;
    return (uint16_t)(sign | (uint16_t)(sp_f32_to_bits(shifted) - 0x3f000000u));
  }
  uint32_t odd = (abs >> 13) & 1u;
  abs += 0xc8000fffu + odd; /* rebias exponent (-112 << 23) and round */
  return (uint16_t)(sign | (uint16_t)(abs >> 13));
}

#endif
