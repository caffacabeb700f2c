/* A seeded, platform-independent generator (splitmix64) for the execute
 * tests: the same seed gives the same configurations everywhere. */
#ifndef SPARSA_TESTS_EXECUTE_TEST_RNG_H
#define SPARSA_TESTS_EXECUTE_TEST_RNG_H

#include <stdint.h>

typedef struct test_rng {
  uint64_t state;
} test_rng;

static inline uint64_t test_rng_next(test_rng *r) {
  uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (inclusive). */
static inline int64_t test_rng_range(test_rng *r, int64_t lo, int64_t hi) {
  return lo + (int64_t)(test_rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Uniform in [0, 1). */
static inline double test_rng_unit(test_rng *r) {
  return (double)(test_rng_next(r) >> 11) * 0x1p-53;
}

/* 1 with probability p. */
static inline int test_rng_chance(test_rng *r, double p) { return test_rng_unit(r) < p; }

#define TEST_PICK(rng, array) ((array)[test_rng_range((rng), 0, (int64_t)(sizeof(array) / sizeof((array)[0])) - 1)])

#endif
