/* Mask building and plan creation: the per-call overhead a framework pays
 * when masks or shapes change (FlexAttention's create_block_mask takes
 * milliseconds on a GPU; FlashInfer's plan() 1-3 ms). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Every built-in kind, each on all heads (its own pattern object per head,
 * so nothing is shared): the target is the slowest of them. Grids are
 * sized from N (grid_rows is N / 256 rows of 256, frames_3d N / 1024 frames
 * of 32 x 32). */
typedef struct mask_kind {
  const char *name;
  const char *spec; /* %lld: N / 256 for 2-D grids, N / 1024 for 3-D ones */
} mask_kind;

static const mask_kind mask_kinds[] = {
    {"dense", "dense"},
    {"causal", "causal"},
    {"window", "window:1024"},
    {"sink_window", "sink:128,2048"},
    {"dilated", "dilated:4096,4"},
    {"global", "global:64"},
    {"blocks10", "blocks:0.1"},
    {"vertical_slash", "vslash:1000,1000"},
    {"power", "power:256"},
    {"radial", "radial:1024,256"},
    {"neighborhood_2d", "nbhd2d:%lld,256,9,9"},
    {"neighborhood_3d", "nbhd3d:%lld,32,32,3,7,7"},
    {"union_sink_global", "sink:64,1024+global:16"},
    {"intersection_global_causal", "global:64&causal"},
};
enum { NUM_MASK_KINDS = sizeof mask_kinds / sizeof mask_kinds[0] };

static int build_patterns_of(const char *const *specs, int num_specs, int64_t n,
                             sparsa_pattern **patterns) {
  char err[512];
  for (int h = 0; h < MASK_HEADS; h++) {
    cli_pattern_shape shape = {n, n, BENCH_BLOCK, h, 5};
    if (cli_pattern_from_spec(specs[h % num_specs], &shape, &patterns[h], err, sizeof err)) {
      bench_log("   %s\n", err);
      return -1;
    }
  }
  return 0;
}

static int build_patterns(int64_t n, sparsa_pattern **patterns) {
  return build_patterns_of(head_specs, 8, n, patterns);
}

static void release(sparsa_pattern **patterns) {
  for (int h = 0; h < MASK_HEADS; h++) {
    sparsa_pattern_destroy(patterns[h]);
    patterns[h] = NULL;
  }
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

/* Median milliseconds of sparsa_mask_create over the given patterns. */
static double time_mask_build(const bench_env *env, int64_t n, sparsa_pattern **patterns,
                              double *density) {
  sparsa_mask_desc desc = mixed_desc(n, patterns);
  const int reps = 2 * env->reps + 1;
  double *times = calloc((size_t)reps, sizeof *times);
  if (times == NULL) return -1.0;
  double ms = -1.0;
  for (int i = 0; i < reps; i++) {
    sparsa_mask *mask = NULL;
    double t0 = cli_now_seconds();
    sparsa_status st = sparsa_mask_create(env->ctx, &desc, &mask);
    times[i] = cli_now_seconds() - t0;
    if (st != SPARSA_OK) {
      bench_log("   mask: %s: %s\n", sparsa_status_string(st), sparsa_last_error());
      goto done;
    }
    if (i == 0) sparsa_mask_density(mask, -1, density);
    sparsa_mask_destroy(mask);
  }
  ms = 1e3 * cli_median(times, reps);
done:
  free(times);
  return ms;
}

static int run_mask_build(const bench_env *env, bench_results *r) {
  const int64_t n = env->quick ? 8192 : 32768;
  sparsa_pattern *patterns[MASK_HEADS] = {0};
  double worst = 0.0, density = 0.0;
  const char *worst_kind = "";
  for (int k = 0; k < NUM_MASK_KINDS; k++) {
    char spec[64];
    snprintf(spec, sizeof spec, mask_kinds[k].spec,
             (long long)(strstr(mask_kinds[k].spec, "nbhd3d") ? n / 1024 : n / 256));
    const char *specs[1] = {spec};
    double ms = -1.0;
    if (build_patterns_of(specs, 1, n, patterns) == 0) ms = time_mask_build(env, n, patterns, &density);
    release(patterns);
    if (ms < 0) return -1;
    bench_log("   %-27s %8.3f ms (density %.3f)\n", mask_kinds[k].name, ms, density);
    bench_put(r, ms, "mask_build_%s_ms", mask_kinds[k].name);
    if (ms > worst) {
      worst = ms;
      worst_kind = mask_kinds[k].name;
    }
  }
  bench_log("   %d heads per kind, N=%lld, block %d: slowest kind %s, %.3f ms per mask\n",
            MASK_HEADS, (long long)n, BENCH_BLOCK, worst_kind, worst);
  bench_put(r, worst, "mask_build_ms");
  /* The per-head mix of 8 kinds in one mask. */
  double ms = -1.0;
  if (build_patterns(n, patterns) == 0) ms = time_mask_build(env, n, patterns, &density);
  release(patterns);
  if (ms < 0) return -1;
  bench_log("   %d heads of 8 kinds in one mask: %.3f ms (density %.3f)\n", MASK_HEADS, ms, density);
  bench_put(r, ms, "mask_build_mixed_ms");
  bench_put(r, density, "mask_build_density");
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
  double *times = NULL;
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
  times = calloc((size_t)reps, sizeof *times);
  if (times == NULL) goto done;
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
  free(times);
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
  double *times = NULL;
  int rc = -1;
  if (build_patterns(n, patterns)) goto done;
  sparsa_mask_desc desc = mixed_desc(n, patterns);
  if (sparsa_mask_create(env->ctx, &desc, &mask) != SPARSA_OK) {
    bench_log("   mask: %s\n", sparsa_last_error());
    goto done;
  }
  sparsa_problem p = bench_problem(SPARSA_DTYPE_BF16, 1, MASK_HEADS, MASK_HEADS / 4, n, n);
  const int reps = 2 * env->reps + 1;
  times = calloc((size_t)reps, sizeof *times);
  if (times == NULL) goto done;
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
  free(times);
  sparsa_mask_destroy(mask);
  release(patterns);
  return rc;
}

const bench_case bench_case_mask_build = {
    "mask_build", "masks of 32 heads of each built-in kind and of 8 mixed kinds, N=32768, block 64",
    run_mask_build};
const bench_case bench_case_plan = {"plan", "plan creation from an existing 32-head mask, N=32768",
                                    run_plan};
