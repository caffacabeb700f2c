/* How much of a suite to run. A release build runs every case; the
 * sanitizer and valgrind jobs, where each case costs 3x to 50x more, set
 * SPARSA_TEST_CASES to a budget counted in "one random execute
 * configuration" units, and each loop of a suite runs a spread subset that
 * fits it, never fewer than one case, so a reduced run still reaches every
 * kind of case (every pattern kind, every test function). */
#ifndef SPARSA_TESTS_COMMON_TEST_CASES_H
#define SPARSA_TESTS_COMMON_TEST_CASES_H

#include <stdint.h>

/* The budget SPARSA_TEST_CASES gives, or -1 when it is not set. */
int64_t test_cases_budget(void);

/* How many of a loop's `full` cases to run when each costs `cost` units:
 * full without a budget, else min(full, max(1, budget / cost)). */
int64_t test_cases(int64_t full, int64_t cost);

/* The index of the i-th of n cases spread evenly over [0, full), so that a
 * reduced loop still reaches both ends of what it enumerates. */
int64_t test_cases_pick(int64_t i, int64_t n, int64_t full);

#endif
