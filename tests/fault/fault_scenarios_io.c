/* Scenarios for the allocation-failure walk: saving and loading pattern
 * configs and caches, to memory and to files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sparsa/sparsa_cache.h>

#include "fault_scenarios.h"

static void fio_inputs(float *q, float *k, size_t nq, size_t nk) {
  uint32_t x = 5;
  for (size_t i = 0; i < nq; i++) q[i] = (float)((int)((x = x * 1664525u + 1013904223u) >> 27) - 16) / 8.0f;
  for (size_t i = 0; i < nk; i++) k[i] = (float)((int)((x = x * 1664525u + 1013904223u) >> 27) - 16) / 8.0f;
}

static void fio_problem(sparsa_problem *p) {
  sparsa_problem_init(p);
  p->batch = 1;
  p->q_heads = 2;
  p->kv_heads = 2;
  p->head_dim = 8;
  p->q_len = 80;
  p->kv_len = 80;
}

static char *fio_path(const char *what) {
  static char path[256];
  snprintf(path, sizeof path, "fault_%s_%ld.bin", what, (long)getpid());
  return path;
}

sparsa_status fault_scenario_config_io(fault_results *r) {
  sparsa_context *ctx = NULL;
  sparsa_pattern_config *cfg = NULL, *mem = NULL, *file = NULL;
  uint8_t *buf = NULL;
  float q[80 * 2 * 8], k[80 * 2 * 8];
  sparsa_status st;
  fio_inputs(q, k, 80 * 2 * 8, 80 * 2 * 8);
  FS_TRY(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  sparsa_problem p;
  fio_problem(&p);
  sparsa_search_options o;
  sparsa_search_options_init(&o);
  o.block_q = o.block_kv = 16;
  FS_TRY(sparsa_pattern_search(ctx, &o, &p, q, k, &cfg));
  size_t n = 0;
  FS_TRY(sparsa_pattern_config_save_memory(cfg, NULL, 0, &n));
  buf = malloc(n);
  if (buf == NULL) abort();
  FS_TRY(sparsa_pattern_config_save_memory(cfg, buf, n, &n));
  FS_TRY(sparsa_pattern_config_load_memory(buf, n, &mem));
  const char *path = fio_path("config");
  FS_TRY(sparsa_pattern_config_save(mem, path));
  FS_TRY(sparsa_pattern_config_load(path, &file));
  int32_t heads = 0;
  FS_TRY(sparsa_pattern_config_num_heads(file, &heads));
  fault_results_add(r, heads);
  fault_results_add(r, (double)n);
cleanup:
  remove(fio_path("config"));
  free(buf);
  sparsa_pattern_config_destroy(cfg);
  sparsa_pattern_config_destroy(mem);
  sparsa_pattern_config_destroy(file);
  sparsa_context_destroy(ctx);
  return st;
}

sparsa_status fault_scenario_cache_io(fault_results *r) {
  sparsa_context *ctx = NULL;
  sparsa_cache *a = NULL, *b = NULL, *c = NULL;
  sparsa_cache_entry *e = NULL;
  uint8_t *buf = NULL;
  float q[80 * 2 * 8], k[80 * 2 * 8];
  sparsa_status st;
  fio_inputs(q, k, 80 * 2 * 8, 80 * 2 * 8);
  FS_TRY(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  FS_TRY(sparsa_cache_create(ctx, NULL, &a));
  FS_TRY(sparsa_cache_create(ctx, NULL, &b));
  FS_TRY(sparsa_cache_create(ctx, NULL, &c));
  sparsa_problem p;
  fio_problem(&p);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  for (int method = 0; method < 3; method++) {
    sparsa_estimator est;
    sparsa_estimator_init(&est, (sparsa_estimator_method)method);
    est.block_q = est.block_kv = 16;
    est.last_q = 16;
    key.layer = method;
    FS_TRY(sparsa_cache_acquire(a, &key, &est, &p, q, k, &e));
    sparsa_cache_entry_release(e);
    e = NULL;
  }
  size_t n = 0;
  FS_TRY(sparsa_cache_save_memory(a, NULL, 0, &n));
  buf = malloc(n);
  if (buf == NULL) abort();
  FS_TRY(sparsa_cache_save_memory(a, buf, n, &n));
  FS_TRY(sparsa_cache_load_memory(b, buf, n));
  const char *path = fio_path("cache");
  FS_TRY(sparsa_cache_save(b, path));
  FS_TRY(sparsa_cache_load(c, path));
  sparsa_cache_stats s;
  s.struct_size = sizeof s;
  FS_TRY(sparsa_cache_get_stats(c, &s));
  fault_results_add(r, (double)s.entries);
  fault_results_add(r, (double)n);
  /* A failed load adds nothing: the file's entries are all there or none. */
  if (s.entries != 3) st = SPARSA_ERR_INTERNAL;
cleanup:
  remove(fio_path("cache"));
  free(buf);
  sparsa_cache_entry_release(e);
  sparsa_cache_destroy(a);
  sparsa_cache_destroy(b);
  sparsa_cache_destroy(c);
  sparsa_context_destroy(ctx);
  return st;
}
