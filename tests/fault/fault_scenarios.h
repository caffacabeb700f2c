/* The scenarios the allocation-failure walk covers: each a complete use of
 * one part of the library that destroys everything it created, on every
 * path, and reports its numeric results. */
#ifndef SPARSA_TESTS_FAULT_SCENARIOS_H
#define SPARSA_TESTS_FAULT_SCENARIOS_H

#include "fault_walk.h"

/* Inside a scenario: stop at the first failure, keeping its status in `st`
 * for the cleanup path (a label `cleanup` that releases everything). */
#define FS_TRY(expr)                    \
  do {                                  \
    st = (expr);                        \
    if (st != SPARSA_OK) goto cleanup;  \
  } while (0)

sparsa_status fault_scenario_context(fault_results *r);
sparsa_status fault_scenario_patterns(fault_results *r);
sparsa_status fault_scenario_masks(fault_results *r);
sparsa_status fault_scenario_plan_execute(fault_results *r);
sparsa_status fault_scenario_plan_varlen(fault_results *r);
sparsa_status fault_scenario_threads(fault_results *r);
sparsa_status fault_scenario_merge(fault_results *r);
sparsa_status fault_scenario_estimators(fault_results *r);
sparsa_status fault_scenario_search(fault_results *r);
sparsa_status fault_scenario_cache(fault_results *r);
sparsa_status fault_scenario_config_io(fault_results *r);
sparsa_status fault_scenario_cache_io(fault_results *r);

#endif
