/* The walk itself; see fault_walk.h. */
#include "fault_walk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

void fault_results_add(fault_results *r, double value) {
  if (r->count < FAULT_MAX_RESULTS) r->values[r->count++] = value;
}

/* Results must agree to float32 rounding: a multi-threaded execute may sum
 * in another order from one run to the next. */
static int fault_same(const fault_results *a, const fault_results *b) {
  if (a->count != b->count) return 0;
  for (int32_t i = 0; i < a->count; i++) {
    double x = a->values[i], y = b->values[i];
    if (isnan(x) || isnan(y)) return 0;
    if (isinf(x) || isinf(y)) {
      if (x != y) return 0;
      continue;
    }
    if (fabs(x - y) > 1e-5 * (1.0 + fabs(x))) return 0;
  }
  return 1;
}

/* The leak check counts the library's own blocks (its allocator keeps the
 * count in fault-injection builds): exact under any malloc, sanitizers and
 * valgrind included. The C library's heap statistics are not: they move
 * with its per-thread bookkeeping (thread stacks and their TLS vectors,
 * freed-chunk caches), which made a heap-based check fail now and then on
 * a loaded machine in the scenarios that start threads. */
static int64_t fault_live_blocks(void) { return sp_fault_live_blocks(); }

static char fault_message[1024];

const char *fault_walk_failure(void) { return fault_message; }

/* Records the first violation; the walk stops there. */
#define FW_REQUIRE(cond, ...)                                                    \
  do {                                                                           \
    if (!(cond)) {                                                               \
      snprintf(fault_message, sizeof fault_message, __VA_ARGS__);                \
      sp_fault_inject_after(-1);                                                 \
      return 1;                                                                  \
    }                                                                            \
  } while (0)

/* The next failure point: k + stride, but never skipping the last one. */
static int64_t fault_next(int64_t k, int64_t stride, int64_t n) {
  if (k + stride < n || k == n - 1) return k + stride;
  return n - 1;
}

int fault_walk(const char *name, fault_scenario_fn scenario, fault_walk_stats *out) {
  static fault_results expected, got; /* large: not on the stack */
  fault_walk_stats stats = {0, 0, 0};
  fault_message[0] = '\0';

  /* Uninjected run: the expected results. A second one first settles
   * anything created lazily on first use (thread-local state, pools). */
  sp_fault_inject_after(-1);
  memset(&expected, 0, sizeof expected);
  sparsa_status st = scenario(&expected);
  FW_REQUIRE(st == SPARSA_OK, "%s: uninjected run failed: %s (%s)", name,
                sparsa_status_string(st), sparsa_last_error());
  sp_fault_inject_after(-1);
  memset(&got, 0, sizeof got);
  st = scenario(&got);
  stats.allocations = sp_fault_inject_after(-1);
  FW_REQUIRE(st == SPARSA_OK && fault_same(&expected, &got),
                "%s: two uninjected runs disagree", name);
  FW_REQUIRE(stats.allocations > 0, "%s: the scenario allocates nothing", name);

  /* SPARSA_FAULT_STRIDE=s walks every s-th allocation (and the last): the
   * valgrind job, where each run costs ~50x, uses it. */
  const char *stride_env = getenv("SPARSA_FAULT_STRIDE");
  int64_t stride = stride_env != NULL ? strtoll(stride_env, NULL, 10) : 1;
  if (stride < 1) stride = 1;
  for (int64_t k = 0; k < stats.allocations; k = fault_next(k, stride, stats.allocations)) {
    int64_t live_before = fault_live_blocks();
    memset(&got, 0, sizeof got);
    sp_fault_inject_after(k);
    st = scenario(&got);
    sp_fault_inject_after(-1);
    FW_REQUIRE(st == SPARSA_OK || st == SPARSA_ERR_OUT_OF_MEMORY,
                  "%s: allocation %lld failing gave %s (%s), not out-of-memory", name,
                  (long long)k, sparsa_status_string(st), sparsa_last_error());
    if (st == SPARSA_OK) {
      stats.ok_runs++;
      FW_REQUIRE(fault_same(&expected, &got),
                    "%s: allocation %lld failing gave success with wrong results", name,
                    (long long)k);
    } else {
      stats.failed_runs++;
      FW_REQUIRE(sparsa_last_error()[0] != '\0',
                    "%s: allocation %lld failing gave out-of-memory without a message", name,
                    (long long)k);
    }
    int64_t live_after = fault_live_blocks();
    FW_REQUIRE(live_after == live_before, "%s: allocation %lld failing leaked %lld blocks", name,
               (long long)k, (long long)(live_after - live_before));

    /* The library is still usable, with the same answer. */
    memset(&got, 0, sizeof got);
    st = scenario(&got);
    FW_REQUIRE(st == SPARSA_OK && fault_same(&expected, &got),
                  "%s: after allocation %lld failed, an uninjected run gave %s (%s)", name,
                  (long long)k, sparsa_status_string(st), sparsa_last_error());
  }
  /* Allocation k = 0 always precedes the first handle: something must have
   * failed, or injection does not reach this scenario's allocations. */
  FW_REQUIRE(stats.failed_runs > 0, "%s: no injected run failed", name);
  printf("%s: %lld allocations, %lld injected failures reported, %lld tolerated\n", name,
         (long long)stats.allocations, (long long)stats.failed_runs, (long long)stats.ok_runs);
  if (out != NULL) *out = stats;
  return 0;
}
