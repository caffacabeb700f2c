/* Which CPU kernel path contexts of this process take: the one named by
 * SPARSA_CPU_ISA, else the processor's best. There is no public query of
 * it, so this probes as `sparsa info` does, creating contexts with the
 * variable set to each path from the best down and restoring it after.
 * Uses setenv: the including file defines _POSIX_C_SOURCE >= 200112L. */
#ifndef SPARSA_TESTS_CPU_ISA_TAKEN_H
#define SPARSA_TESTS_CPU_ISA_TAKEN_H

#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200112L
#error "cpu_isa_taken.h needs _POSIX_C_SOURCE >= 200112L (setenv)"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sparsa/sparsa.h>

/* Whether CPU contexts here take kernel path `isa` (avx512bf16, avx512,
 * avx2 or generic). */
static inline int test_cpu_isa_taken(const char *isa) {
  static const char *const best_first[] = {"avx512bf16", "avx512", "avx2", "generic"};
  const char *named = getenv("SPARSA_CPU_ISA");
  if (named != NULL && named[0] != '\0' && strcmp(named, "auto") != 0) return strcmp(named, isa) == 0;
  char saved[16] = "";
  if (named != NULL) snprintf(saved, sizeof saved, "%s", named);
  int taken = 0;
  for (size_t i = 0; i < sizeof best_first / sizeof best_first[0]; i++) {
    sparsa_context *ctx = NULL;
    setenv("SPARSA_CPU_ISA", best_first[i], 1);
    const int accepted = sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx) == SPARSA_OK;
    sparsa_context_destroy(ctx);
    if (accepted) {
      taken = strcmp(best_first[i], isa) == 0;
      break;
    }
  }
  if (named != NULL) setenv("SPARSA_CPU_ISA", saved, 1);
  else unsetenv("SPARSA_CPU_ISA");
  return taken;
}

#endif /* SPARSA_TESTS_CPU_ISA_TAKEN_H */
