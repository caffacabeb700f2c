/* A seeded generator for the CUDA engine's host-only tests: rnd(lo, hi)
 * starts from TEST_SEED, which the test defines before including this
 * header, so that each test keeps its own reproducible stream. */
#ifndef SPARSA_CUDA_TEST_RNG_H
#define SPARSA_CUDA_TEST_RNG_H

#include <stdint.h>

static uint64_t g_rng = TEST_SEED;

/* A value in [lo, hi], both inclusive. */
static inline int64_t rnd(int64_t lo, int64_t hi) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return lo + (int64_t)((g_rng >> 17) % (uint64_t)(hi - lo + 1));
}

#endif
