/* What the GPU test drivers share: the skip code ctest knows, a failure
 * counter with its EXPECT, a seeded random source, bf16 rounding and the
 * host heap probe of the leak checks. Header-only (static inline), so each
 * driver stays one executable without a support library. */
#ifndef SPARSA_CUDA_TESTS_GPU_TEST_UTIL_H
#define SPARSA_CUDA_TESTS_GPU_TEST_UTIL_H

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { SKIP_CODE = 77 }; /* ctest's SKIP_RETURN_CODE for these drivers */

/* Counts a failure (each driver defines `static int g_failed;`) and says
 * where, without stopping: one run reports every broken check. */
#define EXPECT(cond, ...)                             \
  do {                                                \
    if (!(cond)) {                                    \
      printf("  FAIL %s:%d: ", __FILE__, __LINE__);   \
      printf(__VA_ARGS__);                            \
      printf("\n");                                   \
      g_failed++;                                     \
    }                                                 \
  } while (0)

/* xorshift64: the same inputs on every run of a driver (a driver may
 * reseed g_rng from its command line; the state must stay non-zero). */
static uint64_t g_rng = 0x2545F4914F6CDD1Dull;

static inline uint64_t rnd(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

/* Uniform in [-1, 1). */
static inline double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0; }

/* Uniform in [lo, hi]; hi <= lo gives lo. */
static inline int64_t rnd_int(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* bf16 bits of x, rounded to nearest even. */
static inline uint16_t to_bf16(double x) {
  float f = (float)x;
  uint32_t bits;
  memcpy(&bits, &f, 4);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return (uint16_t)(bits >> 16);
}

/* mallinfo2() counts chunks parked in glibc's per-thread cache of freed
 * chunks as in use: the heap checks run with that cache off. */
#define HEAP_TUNABLES "glibc.malloc.tcache_count=0"

/* glibc reads its tunables only at start: a driver whose heap checks need
 * the cache off calls this first thing in main(), and it runs the driver
 * again with HEAP_TUNABLES set (returns only if that fails, with 1). */
static inline int rerun_with_heap_tunables(char **argv) {
  const char *tunables = getenv("GLIBC_TUNABLES");
  if (tunables != NULL && strstr(tunables, HEAP_TUNABLES) != NULL) return 0;
  setenv("GLIBC_TUNABLES", HEAP_TUNABLES, 1);
  execv("/proc/self/exe", argv);
  printf("FAIL: running again with %s: %s\n", HEAP_TUNABLES, strerror(errno));
  return 1;
}

/* Bytes in use on the host heap, all arenas. */
static inline size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

#endif
