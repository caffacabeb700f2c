/* Scenarios for the allocation-failure walk: estimators (each method),
 * the offline pattern search and the cache (acquire, hits, refresh,
 * extension, eviction, config entries). */
#include <stdlib.h>
#include <string.h>

#include <sparsa/sparsa_cache.h>

#include "fault_scenarios.h"

enum { FE_QH = 4, FE_KVH = 2, FE_DIM = 16, FE_QL = 96, FE_KL = 128 };

static void fe_problem(sparsa_problem *p, int64_t ql, int64_t kl) {
  sparsa_problem_init(p);
  p->batch = 1;
  p->q_heads = FE_QH;
  p->kv_heads = FE_KVH;
  p->head_dim = FE_DIM;
  p->q_len = ql;
  p->kv_len = kl;
}

/* q and k with structure the estimators pick up: a few strong key rows. */
static void fe_inputs(float **q, float **k, int64_t ql, int64_t kl) {
  size_t nq = (size_t)(ql * FE_QH * FE_DIM), nk = (size_t)(kl * FE_KVH * FE_DIM);
  *q = malloc(nq * sizeof **q);
  *k = malloc(nk * sizeof **k);
  if (*q == NULL || *k == NULL) abort();
  uint32_t x = 99;
  for (size_t i = 0; i < nq; i++) (*q)[i] = (float)((int)((x = x * 1664525u + 1013904223u) >> 27) - 16) / 16.0f;
  for (size_t i = 0; i < nk; i++) {
    size_t row = i / (FE_KVH * FE_DIM);
    float noise = (float)((int)((x = x * 1664525u + 1013904223u) >> 27) - 16) / 16.0f;
    (*k)[i] = row % 37 == 3 ? 3.0f : noise;
  }
}

static void fe_record_mask(const sparsa_mask *m, fault_results *r) {
  sparsa_mask_info info;
  info.struct_size = sizeof info;
  if (sparsa_mask_get_info(m, &info) == SPARSA_OK) {
    fault_results_add(r, (double)info.num_full_blocks);
    fault_results_add(r, (double)info.num_partial_blocks);
  }
  double d = 0;
  if (sparsa_mask_density(m, -1, &d) == SPARSA_OK) fault_results_add(r, d);
}

sparsa_status fault_scenario_estimators(fault_results *r) {
  sparsa_context *ctx = NULL;
  float *q = NULL, *k = NULL;
  sparsa_status st;
  fe_inputs(&q, &k, 128, FE_KL);
  FS_TRY(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  FS_TRY(sparsa_context_set_num_threads(ctx, 2));
  sparsa_problem p;
  for (int method = 0; method < 3; method++) {
    /* Top-k, threshold, and top-k keeping every block of a 128 x 80
     * problem (non-causal where the method allows): 8 x 5 blocks, a list
     * longer than the estimators' first guess (4 per key block + 16). */
    for (int sel = 0; sel < 3; sel++) {
      fe_problem(&p, sel == 2 ? 128 : FE_QL, sel == 2 ? 80 : FE_KL);
      sparsa_estimator est;
      sparsa_estimator_init(&est, (sparsa_estimator_method)method);
      est.block_q = est.block_kv = 16;
      est.selection = sel == 1 ? SPARSA_SELECT_THRESHOLD : SPARSA_SELECT_TOP_K;
      est.top_k = sel == 2 ? 80 : 3;
      est.causal = sel != 2 || method == SPARSA_ESTIMATOR_VERTICAL_SLASH;
      est.last_q = 16;
      sparsa_mask *m = NULL;
      FS_TRY(sparsa_mask_estimate(ctx, &est, &p, q, k, &m));
      fe_record_mask(m, r);
      sparsa_mask_destroy(m);
    }
  }
cleanup:
  sparsa_context_destroy(ctx);
  free(q);
  free(k);
  return st;
}

sparsa_status fault_scenario_search(fault_results *r) {
  sparsa_context *ctx = NULL;
  sparsa_pattern_config *cfg = NULL;
  sparsa_mask *m = NULL;
  float *q = NULL, *k = NULL;
  sparsa_status st;
  fe_inputs(&q, &k, FE_QL, FE_KL);
  FS_TRY(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  sparsa_problem p;
  fe_problem(&p, FE_QL, FE_KL);
  sparsa_search_options o;
  sparsa_search_options_init(&o);
  o.block_q = o.block_kv = 16;
  FS_TRY(sparsa_pattern_search(ctx, &o, &p, q, k, &cfg));
  for (int32_t h = 0; h < FE_QH; h++) {
    sparsa_head_info info;
    info.struct_size = sizeof info;
    FS_TRY(sparsa_pattern_config_get_head(cfg, h, &info));
    fault_results_add(r, (double)info.kind);
    fault_results_add(r, info.density);
  }
  FS_TRY(sparsa_pattern_config_create_mask(ctx, cfg, 150, 200, &m));
  fe_record_mask(m, r);
  sparsa_mask_destroy(m);
  m = NULL;
  /* Vertical-slash heads (or dense) at a quarter of the calibration's
   * lengths: a head's columns past the 32 keys (15 or more of its ~47)
   * are dropped from a copy of the rest. */
  sparsa_pattern_config_destroy(cfg);
  cfg = NULL;
  o.allow = (1 << SPARSA_HEAD_VERTICAL_SLASH) | (1 << SPARSA_HEAD_DENSE);
  FS_TRY(sparsa_pattern_search(ctx, &o, &p, q, k, &cfg));
  FS_TRY(sparsa_pattern_config_create_mask(ctx, cfg, FE_QL / 4, FE_KL / 4, &m));
  fe_record_mask(m, r);
cleanup:
  sparsa_mask_destroy(m);
  sparsa_pattern_config_destroy(cfg);
  sparsa_context_destroy(ctx);
  free(q);
  free(k);
  return st;
}

/* Misses, hits, a refresh, an extension to longer lengths, evictions under
 * a small byte budget, a config entry, and leases outliving eviction. */
sparsa_status fault_scenario_cache(fault_results *r) {
  sparsa_context *ctx = NULL;
  sparsa_cache *cache = NULL;
  sparsa_cache_entry *lease = NULL, *e = NULL;
  sparsa_pattern_config *cfg = NULL;
  float *q = NULL, *k = NULL;
  sparsa_status st;
  fe_inputs(&q, &k, 2 * FE_QL, 2 * FE_KL);
  FS_TRY(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx));
  sparsa_cache_options o;
  sparsa_cache_options_init(&o);
  o.refresh_every = 2;
  o.byte_budget = 1; /* everything but the newest entry is evicted */
  FS_TRY(sparsa_cache_create(ctx, &o, &cache));
  sparsa_estimator est;
  sparsa_estimator_init(&est, SPARSA_ESTIMATOR_VERTICAL_SLASH);
  est.block_q = est.block_kv = 16;
  est.last_q = 16;
  sparsa_problem p;
  fe_problem(&p, FE_QL, FE_KL);
  sparsa_cache_key key;
  sparsa_cache_key_init(&key);
  for (int step = 0; step < 4; step++) {
    key.step = step;
    key.layer = step % 2;
    FS_TRY(sparsa_cache_acquire(cache, &key, &est, &p, q, k, &e));
    const sparsa_mask *m = NULL;
    FS_TRY(sparsa_cache_entry_get_mask(e, &m));
    fe_record_mask(m, r);
    if (lease == NULL) {
      lease = e; /* kept across evictions */
    } else {
      sparsa_cache_entry_release(e);
    }
    e = NULL;
  }
  /* Longer lengths: an extension of the length-free vertical-slash heads. */
  fe_problem(&p, 2 * FE_QL, 2 * FE_KL);
  FS_TRY(sparsa_cache_acquire(cache, &key, &est, &p, q, k, &e));
  sparsa_cache_entry_release(e);
  e = NULL;
  /* Decode growth (only kv_len grows): block-list heads carried over, with
   * the new key blocks added. */
  sparsa_estimator pooled;
  sparsa_estimator_init(&pooled, SPARSA_ESTIMATOR_POOLED_BLOCKS);
  pooled.block_q = pooled.block_kv = 16;
  key.layer = 5;
  for (int64_t kl = FE_KL; kl <= FE_KL + 40; kl += 40) {
    fe_problem(&p, FE_QL, kl);
    FS_TRY(sparsa_cache_acquire(cache, &key, &pooled, &p, q, k, &e));
    const sparsa_mask *m = NULL;
    FS_TRY(sparsa_cache_entry_get_mask(e, &m));
    fe_record_mask(m, r);
    sparsa_cache_entry_release(e);
    e = NULL;
  }
  /* A config entry from a search. */
  sparsa_search_options so;
  sparsa_search_options_init(&so);
  so.block_q = so.block_kv = 16;
  fe_problem(&p, FE_QL, FE_KL);
  FS_TRY(sparsa_pattern_search(ctx, &so, &p, q, k, &cfg));
  key.layer = 9;
  FS_TRY(sparsa_cache_insert_config(cache, &key, &p, cfg, NULL));
  FS_TRY(sparsa_cache_lookup(cache, &key, NULL, &p, &e));
  fault_results_add(r, e != NULL);
  sparsa_cache_stats s;
  s.struct_size = sizeof s;
  FS_TRY(sparsa_cache_get_stats(cache, &s));
  /* Counters that do not depend on where an earlier run stopped. */
  fault_results_add(r, (double)s.entries);
cleanup:
  sparsa_cache_entry_release(e);
  sparsa_cache_entry_release(lease);
  sparsa_pattern_config_destroy(cfg);
  sparsa_cache_destroy(cache);
  sparsa_context_destroy(ctx);
  free(q);
  free(k);
  return st;
}
