/* Allocation-failure injection over the main scenarios: every run ends in
 * success or SPARSA_ERR_OUT_OF_MEMORY, nothing leaks, and the library gives
 * the right answer afterwards (see fault_walk.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "common/test_main.h"
#include "fault_scenarios.h"

#define FAULT_TEST(name)                                   \
  START_TEST(test_fault_##name) {                          \
    ck_assert_msg(fault_walk(#name, fault_scenario_##name, NULL) == 0, "%s", \
                  fault_walk_failure());                   \
  }                                                        \
  END_TEST

FAULT_TEST(context)
FAULT_TEST(patterns)
FAULT_TEST(masks)
FAULT_TEST(plan_execute)
FAULT_TEST(plan_varlen)
FAULT_TEST(threads)
FAULT_TEST(merge)
FAULT_TEST(estimators)
FAULT_TEST(search)
FAULT_TEST(cache)
FAULT_TEST(config_io)
FAULT_TEST(cache_io)

/* The walk must catch a scenario that hides a failure: one that reports an
 * allocation failure as an invalid argument. */
static sparsa_status fault_scenario_mislabels(fault_results *r) {
  sparsa_pattern *p = NULL;
  sparsa_status st = sparsa_pattern_create_causal(&p);
  sparsa_pattern_destroy(p);
  fault_results_add(r, 1.0);
  return st == SPARSA_ERR_OUT_OF_MEMORY ? SPARSA_ERR_INVALID_ARGUMENT : st;
}

START_TEST(test_walk_catches_wrong_status) {
  ck_assert_int_eq(fault_walk("mislabels", fault_scenario_mislabels, NULL), 1);
  ck_assert_msg(strstr(fault_walk_failure(), "not out-of-memory") != NULL, "%s",
                fault_walk_failure());
}
END_TEST

/* ... and one that leaks a library block on its failure path (kept here
 * and freed afterwards, so the test itself leaks nothing). */
static void *leaked[4096];
static int num_leaked;

static sparsa_status fault_scenario_leaks(fault_results *r) {
  sparsa_pattern *p = NULL;
  sparsa_status st = sparsa_pattern_create_causal(&p);
  sparsa_pattern_destroy(p);
  if (st == SPARSA_ERR_OUT_OF_MEMORY && num_leaked < 4096) {
    sp_fault_inject_after(-1); /* after the injected failure every allocation fails */
    leaked[num_leaked++] = sp_malloc(64);
  }
  fault_results_add(r, 1.0);
  return st;
}

START_TEST(test_walk_catches_leak) {
  int failed = fault_walk("leaks", fault_scenario_leaks, NULL);
  for (int i = 0; i < num_leaked; i++) sp_free(leaked[i]);
  ck_assert_int_eq(failed, 1);
  ck_assert_msg(strstr(fault_walk_failure(), "leaked") != NULL, "%s", fault_walk_failure());
}
END_TEST

int main(void) {
  Suite *s = suite_create("fault_injection");
  TCase *tc = tcase_create("walk");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_fault_context);
  tcase_add_test(tc, test_fault_patterns);
  tcase_add_test(tc, test_fault_masks);
  tcase_add_test(tc, test_fault_plan_execute);
  tcase_add_test(tc, test_fault_plan_varlen);
  tcase_add_test(tc, test_fault_threads);
  tcase_add_test(tc, test_fault_merge);
  tcase_add_test(tc, test_fault_estimators);
  tcase_add_test(tc, test_fault_search);
  tcase_add_test(tc, test_fault_cache);
  tcase_add_test(tc, test_fault_config_io);
  tcase_add_test(tc, test_fault_cache_io);
  suite_add_tcase(s, tc);
  TCase *self = tcase_create("self");
  tcase_add_test(self, test_walk_catches_wrong_status);
  tcase_add_test(self, test_walk_catches_leak);
  suite_add_tcase(s, self);
  return test_run_suite(s);
}
