/* Prefill cases: dense, random per-head blocks, sink + window, and a fixed
 * window at growing lengths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_case.h"
#include "bench_shapes.h"
#include "cli_attention.h"
#include "cli_mask.h"
#include "cli_tensor.h"

const sparsa_dtype bench_dtypes[2] = {SPARSA_DTYPE_F32, SPARSA_DTYPE_BF16};

sparsa_problem bench_problem(sparsa_dtype dtype, int batch, int q_heads, int kv_heads,
                             int64_t q_len, int64_t kv_len) {
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = dtype;
  p.batch = batch;
  p.q_heads = q_heads;
  p.kv_heads = kv_heads;
  p.head_dim = BENCH_HEAD_DIM;
  p.q_len = q_len;
  p.kv_len = kv_len;
  return p;
}

/* Times one masked (or dense) prefill in both dtypes and records
 * <key>_ms_<dtype>, <key>_gflops_<dtype> (on computed blocks). */
static int time_prefill(const bench_env *env, bench_results *r, const char *key, int heads,
                        int64_t n, const sparsa_mask *mask) {
  for (int d = 0; d < 2; d++) {
    sparsa_problem p = bench_problem(bench_dtypes[d], 1, heads, heads, n, n);
    int64_t blocks = 0;
    double s = bench_time_attention(env, &p, mask, env->reps, &blocks);
    if (s < 0) return -1;
    double flops =
        mask ? cli_block_flops(blocks, BENCH_BLOCK, BENCH_BLOCK, BENCH_HEAD_DIM, BENCH_HEAD_DIM)
             : 4.0 * (double)n * (double)n * BENCH_HEAD_DIM * heads;
    const char *dt = cli_dtype_name(bench_dtypes[d]);
    bench_log("   %-4s N=%-6lld heads %d: %9.2f ms  %7.1f GFLOP/s on computed blocks\n", dt,
              (long long)n, heads, 1e3 * s, flops / s * 1e-9);
    bench_put(r, 1e3 * s, "%s_ms_%s", key, dt);
    bench_put(r, flops / s * 1e-9, "%s_gflops_%s", key, dt);
  }
  bench_put(r, heads, "%s_heads", key);
  bench_put(r, (double)n, "%s_n", key);
  return 0;
}

static int run_dense(const bench_env *env, bench_results *r) {
  return time_prefill(env, r, "dense", env->quick ? 2 : 4, env->quick ? 1024 : 4096, NULL);
}

static int mask_from(const bench_env *env, const char *spec, int heads, int64_t n,
                     sparsa_mask **mask) {
  char err[512];
  cli_mask_request req = {spec, heads, n, n, BENCH_BLOCK, BENCH_BLOCK, 0, 7};
  if (cli_mask_from_spec(env->ctx, &req, mask, err, sizeof err)) {
    bench_log("   %s\n", err);
    return -1;
  }
  return 0;
}

/* Random per-head tiles of 128 x 128 (the GPU anchors' block), drawn here
 * and written out so the peer script builds the identical boolean mask. */
static int run_blocks(const bench_env *env, bench_results *r) {
  const int heads = 2, tile = 128;
  const int64_t n = env->quick ? 2048 : 16384, nt = (n + tile - 1) / tile;
  const double density = 0.10;
  uint8_t *bitmaps = calloc((size_t)(heads * nt * nt), 1);
  sparsa_pattern *patterns[2] = {NULL, NULL};
  sparsa_mask *mask = NULL;
  char err[512];
  int rc = -1;
  if (!bitmaps) goto done;
  cli_rng rng;
  cli_rng_seed(&rng, 2024);
  for (int h = 0; h < heads; h++) {
    uint8_t *bm = bitmaps + (size_t)h * nt * nt;
    int64_t want = (int64_t)(density * (double)(nt * nt) + 0.5), have = 0;
    while (have < want) {
      int64_t t = (int64_t)(cli_rng_next(&rng) % (uint64_t)(nt * nt));
      if (!bm[t]) bm[t] = 1, have++;
    }
    if (sparsa_pattern_create_blocks_bitmap(tile, tile, nt, nt, bm, &patterns[h]) != SPARSA_OK) {
      bench_log("   blocks pattern: %s\n", sparsa_last_error());
      goto done;
    }
  }
  if (cli_mask_from_patterns(env->ctx, patterns, heads, n, n, BENCH_BLOCK, BENCH_BLOCK, 0, &mask,
                             err, sizeof err)) {
    bench_log("   %s\n", err);
    goto done;
  }
  if (env->export_dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/blocks_mask.u8", env->export_dir);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(bitmaps, 1, (size_t)(heads * nt * nt), f) == (size_t)(heads * nt * nt);
    if (f && fclose(f)) ok = 0;
    if (!ok) {
      bench_log("   cannot write %s\n", path);
      goto done;
    }
    snprintf(path, sizeof path, "%s/blocks_mask.json", env->export_dir);
    f = fopen(path, "w");
    if (!f) {
      bench_log("   cannot write %s\n", path);
      goto done;
    }
    fprintf(f, "{\"n\": %lld, \"heads\": %d, \"tile\": %d, \"tiles\": %lld}\n", (long long)n, heads,
            tile, (long long)nt);
    fclose(f);
  }
  double block_density = 0;
  sparsa_mask_density(mask, -1, &block_density);
  bench_put(r, block_density, "blocks10_density");
  rc = time_prefill(env, r, "blocks10", heads, n, mask);
done:
  sparsa_mask_destroy(mask);
  for (int h = 0; h < heads; h++) sparsa_pattern_destroy(patterns[h]);
  free(bitmaps);
  return rc;
}

static int run_sink_window(const bench_env *env, bench_results *r) {
  const int heads = 2;
  const int64_t n = env->quick ? 4096 : 16384;
  sparsa_mask *mask = NULL;
  if (mask_from(env, "sink:128,2048", heads, n, &mask)) return -1;
  double block_density = 0;
  sparsa_mask_density(mask, -1, &block_density);
  bench_put(r, block_density, "window_density");
  int rc = time_prefill(env, r, "window", heads, n, mask);
  sparsa_mask_destroy(mask);
  return rc;
}

/* A fixed window costs O(N * window): time per token should stay flat. */
static int run_window_scaling(const bench_env *env, bench_results *r) {
  const int64_t full[3] = {4096, 16384, 65536}, quick[3] = {1024, 2048, 4096};
  const int64_t *lengths = env->quick ? quick : full;
  const char *spec = env->quick ? "window:256" : "window:2048";
  for (int i = 0; i < 3; i++) {
    sparsa_mask *mask = NULL;
    if (mask_from(env, spec, 1, lengths[i], &mask)) return -1;
    sparsa_problem p = bench_problem(SPARSA_DTYPE_BF16, 1, 1, 1, lengths[i], lengths[i]);
    int64_t blocks = 0;
    double s = bench_time_attention(env, &p, mask, env->reps, &blocks);
    sparsa_mask_destroy(mask);
    if (s < 0) return -1;
    double us_per_token = 1e6 * s / (double)lengths[i];
    bench_log("   bf16 %s N=%-6lld 1 head: %9.2f ms  %.3f us per query token\n", spec,
              (long long)lengths[i], 1e3 * s, us_per_token);
    bench_put(r, 1e3 * s, "window_scaling_ms_n%lld", (long long)lengths[i]);
    bench_put(r, us_per_token, "window_scaling_us_per_token_n%lld", (long long)lengths[i]);
  }
  return 0;
}

const bench_case bench_case_dense = {"dense", "dense attention, N=4096, d128, 4 heads", run_dense};
const bench_case bench_case_blocks = {
    "blocks", "random per-head 128x128 tiles at 10%, N=16384, d128, 2 heads", run_blocks};
const bench_case bench_case_sink_window = {
    "sink_window", "sink 128 + window 2048, N=16384, d128, 2 heads", run_sink_window};
const bench_case bench_case_window_scaling = {
    "window_scaling", "causal window 2048 at N=4k, 16k, 64k, bf16, 1 head", run_window_scaling};
