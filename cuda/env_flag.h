/* Measurement and test switches of the engine, set in the environment as
 * NAME=1 (SPARSA_CUDA_ESTIMATE_STAGES, SPARSA_CUDA_PLAN_STAGES,
 * SPARSA_CUDA_POISON_PLANS): read once, on first use, since the calls that
 * ask may run on several threads and the hot ones should not pay for
 * getenv each time. */
#ifndef SPARSA_CUDA_ENV_FLAG_H
#define SPARSA_CUDA_ENV_FLAG_H

#include <stdatomic.h>
#include <stdlib.h>

/* Whether the environment sets name to 1; *cache starts at -1 (unread). */
static inline int spc_env_flag(const char *name, atomic_int *cache) {
  int on = atomic_load_explicit(cache, memory_order_relaxed);
  if (on < 0) {
    const char *v = getenv(name);
    on = v != NULL && v[0] == '1';
    atomic_store_explicit(cache, on, memory_order_relaxed);
  }
  return on;
}

#endif
