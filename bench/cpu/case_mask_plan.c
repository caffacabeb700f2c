/* Mask building and plan creation: the per-call overhead a framework pays
 * when masks or shapes change (FlexAttention's create_block_mask takes
 * milliseconds on a GPU; FlashInfer's plan() 1-3 ms). */
#include <stdio.h>
#include <stdlib.h>

#include "bench_case.h"
#include "bench_shapes.h"
#include "cli_attention.h"
#include "cli_pattern_spec.h"
#include "cli_timer.h"

#define MASK_HEADS 32

/* A realistic per-head mix: every kind an LLM head-specific config uses. */
static const char *const head_specs[] = {
    "sink:128,2048",  "vslash:64,64", "blocks:0.1", "power:256",
    "dilated:4096,4", "window:1024",  "causal",     "global:16&causal",
};

static int build_patterns(int64_t n, sparsa_pattern **patterns) {
  char err[512];
  for (int h = 0; h < MASK_HEADS; h++) {
    cli_pattern_shape shape = {n, n, BENCH_BLOCK, h, 5};
    if (cli_pattern_from_spec(head_specs[h % 8], &shape, &patterns[h], err, sizeof err)) {
      bench_log("   %s\n", err);
      return -1;
    }
  }
  return 0;
}

static void release(sparsa_pattern **patterns) {
  for (int h = 0; h < MASK_HEADS; h++) sparsa_pattern_destroy(patterns[h]);
}

static sparsa_mask_desc mixed_desc(int64_t n, sparsa_pattern **patterns) {
  sparsa_mask_desc desc;
  sparsa_mask_desc_init(&desc);
  desc.num_heads = MASK_HEADS;
  desc.q_len = desc.kv_len = n;
  desc.block_q = desc.block_kv = BENCH_BLOCK;
  desc.patterns = (const sparsa_pattern *const *)patterns;
  return desc;
}

static int run_mask_build(const bench_env *env, bench_results *r) {
  const int64_t n = env->quick ? 8192 : 32768;
  sparsa_pattern *patterns[MASK_HEADS] = {0};
  if (build_patterns(n, patterns)) {
    release(patterns);
    return -1;
  }
  sparsa_mask_desc desc = mixed_desc(n, patterns);
  const int reps = 2 * env->reps + 1;
  double times[64];
  double density = 0.0;
  for (int i = 0; i < reps; i++) {
    sparsa_mask *mask = NULL;
    double t0 = cli_now_seconds();
    sparsa_status st = sparsa_mask_create(env->ctx, &desc, &mask);
    times[i] = cli_now_seconds() - t0;
    if (st != SPARSA_OK) {
      bench_log("   mask: %s: %s\n", sparsa_status_string(st), sparsa_last_error());
      release(patterns);
      return -1;
    }
    if (i == 0) sparsa_mask_density(mask, -1, &density);
    sparsa_mask_destroy(mask);
  }
  double ms = 1e3 * cli_median(times, reps);
  bench_log("   %d heads (8 kinds), N=%lld, block %d: %.3f ms per mask (density %.3f)\n",
            MASK_HEADS, (long long)n, BENCH_BLOCK, ms, density);
  bench_put(r, ms, "mask_build_ms");
  bench_put(r, density, "mask_build_density");
  release(patterns);
  return 0;
}

/* A plan for a cached key: sparsa_cache_acquire on a key whose entry (mask
 * and plan) is already held. Independent of N: a hash lookup under the
 * cache's lock; the entry is filled once by estimating a small problem. */
static int run_plan_cached(const bench_env *env, bench_results *r) {
  enum { HEADS = 8, LEN = 2048 };
  sparsa_problem p = bench_problem(SPARSA_DTYPE_F32, 1, HEADS, HEADS, LEN, LEN);
  const size_t elems = (size_t)LEN * HEADS * (size_t)p.head_dim;
  float *q = malloc(elems * sizeof *q), *k = malloc(elems * sizeof *k);
  sparsa_cache *cache = NULL;
  sparsa_cache_entry *entry = NULL;
  int rc = -1;
  if (q == NULL || k == NULL) goto done;
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < elems; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    q[i] = (float)((state >> 40) & 0xffff) / 65536.0f - 0.5f;
    k[i] = (float)((state >> 20) & 0xffff) / 65536.0f - 0.5f;
  }
  sparsa_estimator est;
  sparsa_cache_options opts;
  sparsa_cache_key key;
  if (sparsa_estimator_init(&est, SPARSA_ESTIMATOR_POOLED_BLOCKS) != SPARSA_OK ||
      sparsa_cache_options_init(&opts) != SPARSA_OK || sparsa_cache_key_init(&key) != SPARSA_OK ||
      sparsa_cache_create(env->ctx, &opts, &cache) != SPARSA_OK ||
      sparsa_cache_acquire(cache, &key, &est, &p, q, k, &entry) != SPARSA_OK) {
    bench_log("   cache: %s\n", sparsa_last_error());
    goto done;
  }
  sparsa_cache_entry_release(entry);
  entry = NULL;
  const int reps = 1001;
  double times[1001];
  for (int i = 0; i < reps; i++) {
    const sparsa_plan *plan = NULL;
    double t0 = cli_now_seconds();
    sparsa_status st = sparsa_cache_acquire(cache, &key, &est, &p, q, k, &entry);
    if (st == SPARSA_OK) st = sparsa_cache_entry_get_plan(entry, &plan);
    times[i] = cli_now_seconds() - t0;
    sparsa_cache_entry_release(entry);
    entry = NULL;
    if (st != SPARSA_OK || plan == NULL) {
      bench_log("   cache hit: %s\n", sparsa_last_error());
      goto done;
    }
  }
  double us = 1e6 * cli_median(times, reps);
  bench_log("   plan for a cached key (cache hit, mask and plan held): %.2f us\n", us);
  bench_put(r, us, "plan_cached_us");
  rc = 0;
done:
  sparsa_cache_destroy(cache);
  free(q);
  free(k);
  return rc;
}

/* Plan creation from a mask already built (a cache hit on the mask): the
 * cost of a new plan when only the mask is reused. */
static int run_plan(const bench_env *env, bench_results *r) {
  const int64_t n = env->quick ? 8192 : 32768;
  sparsa_pattern *patterns[MASK_HEADS] = {0};
  sparsa_mask *mask = NULL;
  int rc = -1;
  if (build_patterns(n, patterns)) goto done;
  sparsa_mask_desc desc = mixed_desc(n, patterns);
  if (sparsa_mask_create(env->ctx, &desc, &mask) != SPARSA_OK) {
    bench_log("   mask: %s\n", sparsa_last_error());
    goto done;
  }
  sparsa_problem p = bench_problem(SPARSA_DTYPE_BF16, 1, MASK_HEADS, MASK_HEADS / 4, n, n);
  const int reps = 2 * env->reps + 1;
  double times[64];
  for (int i = 0; i < reps; i++) {
    sparsa_plan *plan = NULL;
    double t0 = cli_now_seconds();
    sparsa_status st = sparsa_plan_create(env->ctx, &p, mask, &plan);
    times[i] = cli_now_seconds() - t0;
    sparsa_plan_destroy(plan);
    if (st != SPARSA_OK) {
      bench_log("   plan: %s: %s\n", sparsa_status_string(st), sparsa_last_error());
      goto done;
    }
  }
  double us = 1e6 * cli_median(times, reps);
  bench_log("   plan for the 32-head mask (N=%lld, bf16, GQA 32/8): %.1f us\n", (long long)n, us);
  bench_put(r, us, "plan_create_us");
  rc = run_plan_cached(env, r);
done:
  sparsa_mask_destroy(mask);
  release(patterns);
  return rc;
}

const bench_case bench_case_mask_build = {
    "mask_build", "mask of 32 mixed per-head patterns, N=32768, block 64", run_mask_build};
const bench_case bench_case_plan = {"plan", "plan creation from an existing 32-head mask, N=32768",
                                    run_plan};
