/* Thousands of seeded random configurations of sparsa_execute against the
 * float64 reference (see exec_case.h for what varies). The seed is printed;
 * SPARSA_TEST_SEED overrides it and SPARSA_TEST_CASES the count, so any
 * failure can be replayed alone. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/test_cases.h"
#include "common/test_main.h"
#include "cpu_isa_skip.h"
#include "exec_case.h"

/* A run on one named kernel path (SPARSA_CPU_ISA, see cpu_isa_skip.h)
 * checks a share of the configurations: the default run covers the rest. */
enum { EXEC_DEFAULT_CASES = 2000, EXEC_ISA_CASES = 300, EXEC_LARGE_EVERY = 25, EXEC_MAX_REPORTS = 5 };

/* This suite's cases are the budget's unit: a budget is its count. */
static int64_t exec_num_cases(void) {
  int64_t budget = test_cases_budget();
  if (budget >= 0) return budget;
  const char *isa = getenv("SPARSA_CPU_ISA");
  return isa != NULL && isa[0] != '\0' ? EXEC_ISA_CASES : EXEC_DEFAULT_CASES;
}

/* Case i uses seed base + i, so a failing case replays with
 * SPARSA_TEST_SEED=<its seed> SPARSA_TEST_CASES=1 (case 0 is never large:
 * set SPARSA_TEST_LARGE=1 to replay a large one). */
START_TEST(random_configurations) {
  uint64_t base = exec_base_seed();
  int64_t cases = exec_num_cases();
  int force_large = getenv("SPARSA_TEST_LARGE") != NULL;
  printf("execute_random: SPARSA_TEST_SEED=%" PRIu64 ", %lld cases\n", base, (long long)cases);
  fflush(stdout);

  sparsa_context *ctx = NULL, *single = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &single), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_set_num_threads(single, 1), SPARSA_OK);

  int64_t failures = 0;
  for (int64_t i = 0; i < cases; i++) {
    exec_config c;
    int large = force_large || (i % EXEC_LARGE_EVERY == EXEC_LARGE_EVERY - 1);
    exec_config_random(&c, base + (uint64_t)i, large);
    char title[160];
    snprintf(title, sizeof title,
             "FAILED case %lld (replay: SPARSA_TEST_SEED=%" PRIu64 " SPARSA_TEST_CASES=1%s):",
             (long long)i, c.seed, large ? " SPARSA_TEST_LARGE=1" : "");
    /* Every seventh case runs on a one-thread context. */
    exec_case_run_counted(i % 7 == 3 ? single : ctx, &c, title, &failures, EXEC_MAX_REPORTS);
    exec_config_free(&c);
  }
  sparsa_context_destroy(single);
  sparsa_context_destroy(ctx);
  ck_assert_msg(failures == 0, "%lld of %lld configurations failed (seed %" PRIu64 ")",
                (long long)failures, (long long)cases, base);
}
END_TEST

int main(void) {
  test_skip_unless_cpu_isa_runs();
  Suite *suite = suite_create("execute_random");
  TCase *tc = tcase_create("random");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, random_configurations);
  suite_add_tcase(suite, tc);
  return test_run_suite(suite);
}
