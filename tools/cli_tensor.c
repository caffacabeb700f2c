#include "cli_tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t cli_dtype_size(sparsa_dtype dtype) {
  return dtype == SPARSA_DTYPE_F32 ? 4 : 2;
}

const char *cli_dtype_name(sparsa_dtype dtype) {
  switch (dtype) {
  case SPARSA_DTYPE_F32:
    return "f32";
  case SPARSA_DTYPE_F16:
    return "f16";
  case SPARSA_DTYPE_BF16:
    return "bf16";
  }
  return "unknown";
}

int cli_parse_dtype(const char *text, sparsa_dtype *out) {
  if (!strcmp(text, "f32") || !strcmp(text, "float32"))
    *out = SPARSA_DTYPE_F32;
  else if (!strcmp(text, "f16") || !strcmp(text, "float16"))
    *out = SPARSA_DTYPE_F16;
  else if (!strcmp(text, "bf16") || !strcmp(text, "bfloat16"))
    *out = SPARSA_DTYPE_BF16;
  else
    return -1;
  return 0;
}

void *cli_alloc(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void *p = aligned_alloc(64, rounded ? rounded : 64);
  if (p) memset(p, 0, rounded ? rounded : 64);
  return p;
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static uint16_t f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
  if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
  if (abs < 0x38800000u) {                                   /* subnormal or zero */
    float scaled = bits_f32(abs) * 16777216.0f;              /* * 2^24 */
    return (uint16_t)(sign | (uint32_t)lrintf(scaled));
  }
  uint32_t mant_round = abs + 0xfffu + ((abs >> 13) & 1u);
  return (uint16_t)(sign | ((mant_round - 0x38000000u) >> 13));
}

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {
    float v = (float)mant / 16777216.0f;
    return sign ? -v : v;
  }
  if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
  return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

void cli_from_f32(const float *src, void *dst, size_t n, sparsa_dtype dtype) {
  if (dtype == SPARSA_DTYPE_F32) {
    memcpy(dst, src, n * sizeof(float));
    return;
  }
  uint16_t *d = dst;
  for (size_t i = 0; i < n; i++)
    d[i] = dtype == SPARSA_DTYPE_BF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
}

void cli_to_f32(const void *src, float *dst, size_t n, sparsa_dtype dtype) {
  if (dtype == SPARSA_DTYPE_F32) {
    memcpy(dst, src, n * sizeof(float));
    return;
  }
  const uint16_t *s = src;
  for (size_t i = 0; i < n; i++)
    dst[i] = dtype == SPARSA_DTYPE_BF16 ? bits_f32((uint32_t)s[i] << 16) : f16_to_f32(s[i]);
}

void cli_rng_seed(cli_rng *rng, uint64_t seed) {
  rng->state = seed ^ 0x9e3779b97f4a7c15ull;
}

uint64_t cli_rng_next(cli_rng *rng) {
  uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double cli_rng_uniform(cli_rng *rng) {
  return (double)(cli_rng_next(rng) >> 11) * 0x1.0p-53;
}

double cli_rng_normal(cli_rng *rng) {
  /* Box-Muller; 1 - u keeps the logarithm finite. */
  double u = 1.0 - cli_rng_uniform(rng), v = cli_rng_uniform(rng);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

void cli_fill_normal(cli_rng *rng, float *x, size_t n, float stddev) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(stddev * cli_rng_normal(rng));
}

double cli_relative_error(const float *a, const float *ref, size_t n) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - (double)ref[i];
    num += d * d;
    den += (double)ref[i] * (double)ref[i];
  }
  if (den == 0.0) return num == 0.0 ? 0.0 : INFINITY;
  return sqrt(num / den);
}
