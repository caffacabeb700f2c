/* The main() every Check suite shares: run it, report, exit status. */
#ifndef SPARSA_TESTS_COMMON_TEST_MAIN_H
#define SPARSA_TESTS_COMMON_TEST_MAIN_H

#include <check.h>

/* Runs every test case of `suite` (taking ownership) and returns
 * EXIT_SUCCESS when none failed, else EXIT_FAILURE. */
int test_run_suite(Suite *suite);

#endif
