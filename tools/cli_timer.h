/* Wall-clock timing and the statistics the tool reports (medians, since a
 * shared 2-core machine has outliers that would skew means). */
#ifndef SPARSA_CLI_TIMER_H
#define SPARSA_CLI_TIMER_H

double cli_now_seconds(void);             /* monotonic clock */
double cli_median(double *values, int n); /* sorts values in place */
double cli_min(const double *values, int n);

#endif /* SPARSA_CLI_TIMER_H */
