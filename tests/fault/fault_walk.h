/* Walking an allocation-failure point over every allocation of a scenario.
 *
 * A scenario is a complete use of the library (create handles, use them,
 * destroy them all, on success and failure paths alike) that records its
 * numeric results. The walk runs it once to learn its result and its number
 * of allocations n; then for every k < n it makes allocation k and all later
 * ones fail (sp_fault_inject_after(k)), runs it, and requires:
 *   - the status is SPARSA_OK or SPARSA_ERR_OUT_OF_MEMORY, never anything
 *     else, and a failure comes with a message;
 *   - a success still gives the right result;
 *   - running again without injection succeeds with the right result (the
 *     library stays usable: no state was left half-updated);
 *   - no heap memory is left behind (checked here through glibc's heap
 *     statistics when the test runs with tcache off, and by LeakSanitizer and
 *     valgrind in the sanitizer jobs). */
#ifndef SPARSA_TESTS_FAULT_WALK_H
#define SPARSA_TESTS_FAULT_WALK_H

#include <stddef.h>
#include <stdint.h>

#include <sparsa/sparsa.h>

enum { FAULT_MAX_RESULTS = 4096 };

/* Numeric results a scenario reports, compared with a tolerance. */
typedef struct fault_results {
  double values[FAULT_MAX_RESULTS];
  int32_t count;
} fault_results;

void fault_results_add(fault_results *r, double value);

typedef sparsa_status (*fault_scenario_fn)(fault_results *results);

typedef struct fault_walk_stats {
  int64_t allocations;   /* in one uninjected run */
  int64_t failed_runs;   /* injected runs that returned SPARSA_ERR_OUT_OF_MEMORY */
  int64_t ok_runs;       /* injected runs that succeeded regardless */
} fault_walk_stats;

/* Runs the walk: 0 when every run behaved, else 1 with the first violation
 * described by fault_walk_failure(). stats may be NULL. */
int fault_walk(const char *name, fault_scenario_fn scenario, fault_walk_stats *stats);
const char *fault_walk_failure(void);

#endif
