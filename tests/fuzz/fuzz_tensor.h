/* Host tensors for fuzz targets: element conversion for every dtype and the
 * extent (in elements) a strided tensor reaches, so that buffers are exactly
 * as large as the problem says and any read or write past them is caught by
 * AddressSanitizer. */
#ifndef SPARSA_FUZZ_TENSOR_H
#define SPARSA_FUZZ_TENSOR_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <sparsa/sparsa.h>

static inline size_t fz_dtype_size(sparsa_dtype t) { return t == SPARSA_DTYPE_F32 ? 4 : 2; }

static inline uint16_t fz_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even; inputs are finite */
  return (uint16_t)(u >> 16);
}

static inline float fz_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Exact for the small, coarsely quantized values the targets use. */
static inline uint16_t fz_f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  float a = fabsf(f);
  if (a < 6.103515625e-05f) return sign; /* flush tiny values: never produced */
  int e;
  float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
  int exp16 = e - 1 + 15;
  uint32_t mant = (uint32_t)lrintf((m * 2.0f - 1.0f) * 1024.0f);
  if (mant == 1024) {
    mant = 0;
    exp16++;
  }
  if (exp16 >= 31) return (uint16_t)(sign | 0x7c00u);
  return (uint16_t)(sign | (uint16_t)(exp16 << 10) | (uint16_t)mant);
}

static inline float fz_f16_to_f32(uint16_t h) {
  int exp16 = (h >> 10) & 0x1f;
  int mant = h & 0x3ff;
  float v;
  if (exp16 == 0) v = ldexpf((float)mant, -24);
  else if (exp16 == 31) v = mant ? NAN : INFINITY;
  else v = ldexpf((float)(mant | 0x400), exp16 - 25);
  return (h & 0x8000u) ? -v : v;
}

static inline void fz_store(void *base, sparsa_dtype t, size_t idx, float v) {
  if (t == SPARSA_DTYPE_F32) ((float *)base)[idx] = v;
  else if (t == SPARSA_DTYPE_F16) ((uint16_t *)base)[idx] = fz_f32_to_f16(v);
  else ((uint16_t *)base)[idx] = fz_f32_to_bf16(v);
}

static inline float fz_load(const void *base, sparsa_dtype t, size_t idx) {
  if (t == SPARSA_DTYPE_F32) return ((const float *)base)[idx];
  if (t == SPARSA_DTYPE_F16) return fz_f16_to_f32(((const uint16_t *)base)[idx]);
  return fz_bf16_to_f32(((const uint16_t *)base)[idx]);
}

/* Elements a tensor spans: the largest offset reached plus one.
 * rows = the sequence extent (q_len / kv_len, or the packed token total for
 * varlen, where the batch stride is ignored). */
static inline int64_t fz_extent(const int64_t stride[3], int64_t batch, int64_t rows,
                                int64_t heads, int64_t dim, int varlen) {
  if (rows == 0) return 0; /* varlen with every sequence empty */
  int64_t last = (rows - 1) * stride[1] + (heads - 1) * stride[2] + dim;
  if (!varlen) last += (batch - 1) * stride[0];
  return last;
}

#endif
