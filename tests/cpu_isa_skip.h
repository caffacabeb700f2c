/* The execute tests run once per CPU kernel path, with SPARSA_CPU_ISA set
 * by ctest. A path the processor (or this build) lacks makes CPU context
 * creation fail with SPARSA_ERR_UNSUPPORTED: the test then exits with 77,
 * which ctest reports as skipped, instead of failing or quietly testing
 * another path. */
#ifndef SPARSA_TESTS_CPU_ISA_SKIP_H
#define SPARSA_TESTS_CPU_ISA_SKIP_H

#include <stdio.h>
#include <stdlib.h>

#include <sparsa/sparsa.h>

enum { TEST_EXIT_SKIPPED = 77 };

static inline void test_skip_unless_cpu_isa_runs(void) {
  const char *isa = getenv("SPARSA_CPU_ISA");
  if (isa == NULL || isa[0] == '\0') return;
  sparsa_context *ctx = NULL;
  sparsa_status status = sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx);
  sparsa_context_destroy(ctx);
  if (status == SPARSA_ERR_UNSUPPORTED) {
    printf("skipped: %s\n", sparsa_last_error());
    exit(TEST_EXIT_SKIPPED);
  }
  printf("CPU kernel path: %s\n", isa);
}

#endif /* SPARSA_TESTS_CPU_ISA_SKIP_H */
