/* Shared pieces of the concurrency tests: a problem and mask of moderate
 * size, deterministic inputs, and running a function on many threads at
 * once (released together by a barrier, so that the calls really overlap). */
#ifndef SPARSA_TESTS_CONCURRENCY_COMMON_H
#define SPARSA_TESTS_CONCURRENCY_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <sparsa/sparsa.h>

enum { CC_THREADS = 8 };

/* Threads and repeats to use: 8 and 10, or 2 and 1 when SPARSA_TEST_CASES
 * asks for a reduced run (valgrind, which runs threads one at a time; the
 * problem is shorter then too). */
int cc_threads(void);
int cc_repeats(void);

/* A causal sink + window mask over 4 query heads of 2 kv heads (GQA),
 * q_len 300, kv_len 340 (140 and 200 in a reduced run), head dim 40. */
void cc_problem(sparsa_problem *p, sparsa_dtype dtype);
sparsa_status cc_mask(sparsa_context *ctx, sparsa_mask **out);

/* Element counts of q, k (= v), out and lse for cc_problem. */
size_t cc_q_elems(void);
size_t cc_kv_elems(void);
size_t cc_lse_elems(void);

/* Deterministic values, exact in every dtype, stored as dtype. */
void *cc_tensor(sparsa_dtype dtype, size_t n, uint32_t seed);
size_t cc_dtype_size(sparsa_dtype dtype);

/* Runs fn(arg_of_thread_i) on n threads started together; returns 0 when
 * every thread could be started and joined. */
typedef void (*cc_thread_fn)(void *arg);
int cc_run_threads(int n, cc_thread_fn fn, void *args, size_t arg_size);

/* Waits until every thread of the current cc_run_threads call is ready. */
void cc_barrier_wait(void);

#endif
