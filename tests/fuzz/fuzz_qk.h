/* q and k for the targets that score them (estimators, pattern search):
 * packed tensors of grid values, exact in every dtype, some elements
 * overwritten by raw bit patterns from the input (infinities and NaNs
 * among them), so that scores tie, overflow and turn NaN. */
#ifndef SPARSA_FUZZ_QK_H
#define SPARSA_FUZZ_QK_H

#include <stdlib.h>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_tensor.h"

/* n elements of dtype from *seed; on one input in eight, 1 to 16 of them
 * (positions and bits read from in) replaced by raw bits. Caller frees. */
static inline void *fz_qk_tensor(fz_input *in, sparsa_dtype dtype, size_t n, uint32_t *seed) {
  void *t = malloc((n ? n : 1) * fz_dtype_size(dtype));
  FZ_REQUIRE(t != NULL, "out of memory for %zu elements", n);
  for (size_t i = 0; i < n; i++) {
    *seed = *seed * 1103515245u + 12345u;
    fz_store(t, dtype, i, (float)((int)(*seed >> 27) - 16) / 8.0f);
  }
  const int specials = n > 0 && fz_u8(in) % 8 == 0 ? (int)fz_range(in, 1, 16) : 0;
  for (int s = 0; s < specials; s++) {
    const size_t at = (size_t)fz_u32(in) % n;
    const uint32_t bits = fz_u32(in);
    if (dtype == SPARSA_DTYPE_F32) memcpy((float *)t + at, &bits, 4);
    else ((uint16_t *)t)[at] = (uint16_t)bits;
  }
  return t;
}

/* Packed q and k of problem p (a seed, then each tensor's raw bits, read
 * from in). Caller frees both. */
static inline void fz_qk_make(fz_input *in, const sparsa_problem *p, void **q, void **k) {
  uint32_t seed = fz_u32(in) | 1u;
  const size_t row = (size_t)p->batch * (size_t)p->head_dim;
  *q = fz_qk_tensor(in, p->dtype, row * (size_t)p->q_len * (size_t)p->q_heads, &seed);
  *k = fz_qk_tensor(in, p->dtype, row * (size_t)p->kv_len * (size_t)p->kv_heads, &seed);
}

#endif
