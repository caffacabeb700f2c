#include "cli_timer.h"

#include <stdlib.h>
#include <time.h>

double cli_now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double cli_median(double *values, int n) {
  if (n <= 0) return 0.0;
  qsort(values, (size_t)n, sizeof *values, compare_double);
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double cli_min(const double *values, int n) {
  double m = n > 0 ? values[0] : 0.0;
  for (int i = 1; i < n; i++)
    if (values[i] < m) m = values[i];
  return m;
}
