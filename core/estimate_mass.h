/* The fixed point in which threshold selections of vertical-slash masses
 * sum, shared by the core and the CUDA engine (plain C that also compiles
 * as device code). Those masses total at most 1 per row (each of the last
 * queries' probabilities weighs 1 / L, and 1 / batch), so a mass is kept as
 * its multiples of 2^-62, truncated: a prefix then sums to the same value
 * in any order, which lets a device find where the running sum reaches
 * the target without sorting the row, and every engine keep the same
 * indices. Truncation only lowers a sum, so a selection that reaches the
 * target in fixed point captures at least the threshold. Also the order
 * keys and digits of the radix descents that select over scores. */
#ifndef SPARSA_CORE_ESTIMATE_MASS_H
#define SPARSA_CORE_ESTIMATE_MASS_H

#include <stdint.h>

#if defined(__CUDACC__)
#define SP_MASS_FN static inline __host__ __device__
#else
#define SP_MASS_FN static inline
#endif

#define SP_MASS_ONE ((uint64_t)1 << 62)
#define SP_MASS_SCALE 4611686018427387904.0 /* 2^62 */

/* A mass in fixed point: 0 for zero, negative or NaN, at most one unit
 * (a mass past 1 is rounding). */
SP_MASS_FN uint64_t sp_mass_fixed(double w) {
  return w >= 1.0 ? SP_MASS_ONE : w > 0.0 ? (uint64_t)(w * SP_MASS_SCALE) : 0;
}

/* The fixed-point target of a threshold: a fixed-point sum reaches it
 * exactly when the sum reaches the threshold (thresholds past 1 are
 * taken as 1; 0 for a threshold of 0 or less). */
SP_MASS_FN uint64_t sp_mass_target(double threshold) {
  if (!(threshold > 0.0)) return 0;
  if (threshold >= 1.0) return SP_MASS_ONE;
  const double scaled = threshold * SP_MASS_SCALE;
  const uint64_t t = (uint64_t)scaled;
  return (double)t < scaled ? t + 1 : t;
}

/* Order keys for radix descents over scores (masses among them): larger
 * score, larger key (scores are never NaN; -0 is taken as +0, as ==
 * does); sp_order_value is the inverse (+0 for a zero). */
SP_MASS_FN uint64_t sp_order_key(double w) {
  union {
    double d;
    uint64_t u;
  } v;
  v.d = w == 0.0 ? 0.0 : w;
  return v.u >> 63 ? ~v.u : v.u | ((uint64_t)1 << 63);
}

SP_MASS_FN double sp_order_value(uint64_t key) {
  union {
    uint64_t u;
    double d;
  } v;
  v.u = key >> 63 ? key & ~((uint64_t)1 << 63) : ~key;
  return v.d;
}

/* The digits of a radix descent over order keys: the bits above top_bit,
 * the highest bit the keys differ in (-1: all equal), are the same in all
 * of them (sp_radix_shared_mask); the digits are eight bits from top_bit
 * down, the last reaching below bit 0 of the one before where it must
 * (its upper bits are then decided ones, equal in every key still
 * counted); shift -1 ends the descent. */
SP_MASS_FN uint64_t sp_radix_shared_mask(int top_bit) {
  return top_bit < 0 ? ~(uint64_t)0 : top_bit == 63 ? 0 : ~(((uint64_t)2 << top_bit) - 1);
}
SP_MASS_FN int sp_radix_first_shift(int top_bit) {
  return top_bit < 0 ? -1 : top_bit >= 7 ? top_bit - 7 : 0;
}
SP_MASS_FN int sp_radix_next_shift(int shift) {
  return shift == 0 ? -1 : shift >= 8 ? shift - 8 : 0;
}

#endif
