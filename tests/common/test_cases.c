#include "common/test_cases.h"

#include <stdlib.h>

int64_t test_cases_budget(void) {
  const char *env = getenv("SPARSA_TEST_CASES");
  if (env == NULL || env[0] == '\0') return -1;
  long long n = strtoll(env, NULL, 0);
  return n < 1 ? 1 : (int64_t)n;
}

int64_t test_cases(int64_t full, int64_t cost) {
  int64_t budget = test_cases_budget();
  if (budget < 0 || full <= 0) return full;
  int64_t n = budget / (cost < 1 ? 1 : cost);
  if (n < 1) n = 1;
  return n < full ? n : full;
}

int64_t test_cases_pick(int64_t i, int64_t n, int64_t full) {
  if (n >= full) return i;
  if (n <= 1) return 0;
  /* The first and the last included. */
  return i * (full - 1) / (n - 1);
}
