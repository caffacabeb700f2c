/* What the fuzz targets share besides their input reader: a broken
 * expectation is a finding (a message, then abort, which libFuzzer reports
 * with the input that caused it), and the CPU context a target makes once,
 * on its first input, and keeps for the whole run. */
#ifndef SPARSA_FUZZ_CHECK_H
#define SPARSA_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include <sparsa/sparsa.h>

#define FZ_REQUIRE(cond, ...)       \
  do {                              \
    if (!(cond)) {                  \
      fprintf(stderr, __VA_ARGS__); \
      fprintf(stderr, "\n");        \
      abort();                      \
    }                               \
  } while (0)

/* A context of `threads` workers (0: the engine's default), created on the
 * first call; the same one after. */
static inline sparsa_context *fz_context(int32_t threads) {
  static sparsa_context *ctx = NULL;
  if (ctx == NULL) {
    FZ_REQUIRE(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx) == SPARSA_OK, "context: %s",
               sparsa_last_error());
    if (threads > 0)
      FZ_REQUIRE(sparsa_context_set_num_threads(ctx, threads) == SPARSA_OK, "threads: %s",
                 sparsa_last_error());
  }
  return ctx;
}

#endif
