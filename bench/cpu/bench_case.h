/* The CPU benchmark harness: a list of cases that each add named figures to
 * one result set, printed as one JSON object at the end. */
#ifndef SPARSA_BENCH_CASE_H
#define SPARSA_BENCH_CASE_H

#include <stdint.h>

#include "sparsa.h"

#define BENCH_MAX_RESULTS 256

typedef struct bench_results {
  int count;
  char key[BENCH_MAX_RESULTS][64];
  double value[BENCH_MAX_RESULTS];
} bench_results;

typedef struct bench_env {
  sparsa_context *ctx;
  int threads;
  int reps;
  int quick;              /* smaller shapes, for a smoke run */
  const char *export_dir; /* where masks for the peer script go, or NULL */
} bench_env;

typedef struct bench_case {
  const char *name;
  const char *summary;
  int (*run)(const bench_env *env, bench_results *results); /* 0 on success */
} bench_case;

/* Adds key = value (key formatted printf-style). */
void bench_put(bench_results *r, double value, const char *key_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Progress and human-readable lines go to stderr; stdout is the JSON. */
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Median seconds of sparsa_execute for a problem and mask (NULL: dense) on
 * random data (drawn once per shape and dtype); fills *num_blocks. Returns
 * a negative value on failure. */
double bench_time_attention(const bench_env *env, const sparsa_problem *problem,
                            const sparsa_mask *mask, int reps, int64_t *num_blocks);

/* The random k and v bench_time_attention() uses for this problem's shape
 * and dtype (drawn now if it has not run on it). 0 on success. */
int bench_random_kv(const sparsa_problem *problem, const void **k, const void **v);

/* Frees the random tensors bench_time_attention() keeps between calls. */
void bench_release_tensors(void);

extern const bench_case bench_case_fma_peak;
extern const bench_case bench_case_dense;
extern const bench_case bench_case_blocks;
extern const bench_case bench_case_sink_window;
extern const bench_case bench_case_window_scaling;
extern const bench_case bench_case_decode;
extern const bench_case bench_case_mask_build;
extern const bench_case bench_case_plan;
/* Extension point: a case defined in another file of bench/cpu (for
 * example estimate cost against attention, case_estimate.c) is run when it
 * is linked in; weak, so the harness builds without it. */
extern const bench_case bench_case_estimate __attribute__((weak));

#endif /* SPARSA_BENCH_CASE_H */
