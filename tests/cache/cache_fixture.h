/* Shared helpers of the cache tests: small deterministic q/k problems and a
 * fingerprint of a mask's block structure (to compare masks built by
 * different paths or threads). */
#ifndef SPARSA_TESTS_CACHE_FIXTURE_H
#define SPARSA_TESTS_CACHE_FIXTURE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sparsa/sparsa.h>

typedef struct fx_problem {
  sparsa_problem p;
  float *q, *k;
} fx_problem;

static inline float fx_noise(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Packed BSHD f32 q/k with a few heavy key columns and local structure. */
static inline void fx_make(fx_problem *f, int32_t heads, int32_t kv_heads, int32_t d,
                           int64_t q_len, int64_t kv_len, uint64_t seed) {
  sparsa_problem_init(&f->p);
  f->p.batch = 1;
  f->p.q_heads = heads;
  f->p.kv_heads = kv_heads;
  f->p.head_dim = d;
  f->p.q_len = q_len;
  f->p.kv_len = kv_len;
  f->q = malloc(sizeof(float) * (size_t)(q_len * heads * d));
  f->k = malloc(sizeof(float) * (size_t)(kv_len * kv_heads * d));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t e = 0; e < q_len * heads * d; e++) f->q[e] = fx_noise(&s);
  for (int64_t e = 0; e < kv_len * kv_heads * d; e++) f->k[e] = fx_noise(&s);
  for (int64_t j = 0; j < kv_len; j++)
    if (j % 29 == 5 || j < 2)
      for (int32_t h = 0; h < kv_heads; h++) f->k[(j * kv_heads + h) * d] += 8.0f;
  for (int64_t i = 0; i < q_len; i++)
    for (int32_t h = 0; h < heads; h++) f->q[(i * heads + h) * d] += 2.0f;
}

static inline void fx_free(fx_problem *f) {
  free(f->q);
  free(f->k);
}

/* FNV-1a over every head's BSR export (row offsets, columns, full flags). */
static inline uint64_t fx_mask_fingerprint(const sparsa_mask *m) {
  sparsa_mask_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  if (sparsa_mask_get_info(m, &info) != SPARSA_OK) return 0;
  uint64_t h = 1469598103934665603ull;
  for (int32_t head = 0; head < info.num_heads; head++) {
    int64_t n = 0;
    sparsa_mask_export_bsr(m, head, NULL, NULL, NULL, 0, &n);
    int64_t *rp = malloc(sizeof(int64_t) * (size_t)(info.num_q_blocks + 1));
    int32_t *ci = malloc(sizeof(int32_t) * (size_t)(n + 1));
    uint8_t *fl = malloc((size_t)(n + 1));
    sparsa_mask_export_bsr(m, head, rp, ci, fl, n, &n);
    const uint8_t *parts[3] = {(const uint8_t *)rp, (const uint8_t *)ci, fl};
    size_t sizes[3] = {sizeof(int64_t) * (size_t)(info.num_q_blocks + 1), sizeof(int32_t) * (size_t)n,
                       (size_t)n};
    for (int x = 0; x < 3; x++)
      for (size_t b = 0; b < sizes[x]; b++) {
        h ^= parts[x][b];
        h *= 1099511628211ull;
      }
    free(rp);
    free(ci);
    free(fl);
  }
  return h;
}

#endif
