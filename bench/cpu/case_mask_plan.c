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
  bench_put(r, us, "plan_cached_us");
  rc = 0;
done:
  sparsa_mask_destroy(mask);
  release(patterns);
  return rc;
}

const bench_case bench_case_mask_build = {
    "mask_build", "mask of 32 mixed per-head patterns, N=32768, block 64", run_mask_build};
const bench_case bench_case_plan = {"plan", "plan creation from an existing 32-head mask, N=32768",
                                    run_plan};
