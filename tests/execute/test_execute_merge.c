/* merge_states: attention over a key range split in two (two masks, each
 * the configuration's pattern intersected with one side) and merged by
 * lse equals attention over the whole range; rows empty on one or both
 * sides included. Also concurrent use of one plan. A SPARSA_TEST_CASES
 * budget (sanitizer and valgrind jobs) runs fewer configurations of each. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/test_cases.h"
#include "common/test_main.h"
#include "common/test_setup.h"
#include "exec_case.h"
#include "cpu_isa_skip.h"

/* Configurations each test runs, and the cost of one concurrent round (8
 * threads, 4 calls each) in SPARSA_TEST_CASES units. */
enum { MERGE_CASES = 120, MERGE_CASE_COST = 2, THREAD_ROUNDS = 16, THREAD_ROUND_COST = 6 };

static uint64_t merge_seed(void) {
  const char *env = getenv("SPARSA_TEST_SEED");
  if (env != NULL && env[0] != '\0') return strtoull(env, NULL, 0);
  return (uint64_t)time(NULL);
}

/* The configuration's pattern for head h, restricted to keys [lo, hi) by a
 * block-sparse tile row covering the range. */
static sparsa_status merge_side_pattern(const exec_config *c, int32_t h, int64_t split, int right,
                                        sparsa_pattern **out) {
  sparsa_pattern *base = NULL, *side = NULL;
  sparsa_status s = c->mask_mode == EXEC_MASK_NULL ? sparsa_pattern_create_dense(&base)
                                                   : test_pattern_build(c->patterns[h], &base);
  int64_t cols = (c->kv_len + split - 1) / split;
  uint8_t *bitmap = calloc((size_t)cols, 1);
  for (int64_t k = 0; k < cols; k++) bitmap[k] = right ? k >= 1 : k == 0;
  if (s == SPARSA_OK)
    s = sparsa_pattern_create_blocks_bitmap((int32_t)c->q_len, (int32_t)split, 1, cols, bitmap, &side);
  if (s == SPARSA_OK) {
    const sparsa_pattern *parts[2] = {base, side};
    s = sparsa_pattern_create_intersection(parts, 2, out);
  }
  free(bitmap);
  sparsa_pattern_destroy(base);
  sparsa_pattern_destroy(side);
  return s;
}

static sparsa_status merge_side_plan(sparsa_context *ctx, const exec_case *ec, int64_t split,
                                     int right, sparsa_plan **plan) {
  const exec_config *c = ec->cfg;
  int32_t n = c->mask_mode == EXEC_MASK_PER_HEAD ? c->q_heads : 1;
  sparsa_pattern *patterns[EXEC_MAX_HEADS] = {NULL};
  sparsa_status s = SPARSA_OK;
  for (int32_t h = 0; h < n && s == SPARSA_OK; h++) s = merge_side_pattern(c, h, split, right, &patterns[h]);
  test_mask_shape shape = {c->q_len, c->kv_len, c->block_q, c->block_kv, c->alignment};
  if (s == SPARSA_OK)
    s = test_plan_create(ctx, &ec->problem, shape, (const sparsa_pattern *const *)patterns, n, plan);
  for (int32_t h = 0; h < n; h++) sparsa_pattern_destroy(patterns[h]);
  return s;
}

/* A fixed-length configuration whose lse is wanted (merge needs it). */
static void merge_config(exec_config *c, uint64_t seed) {
  do {
    exec_config_free(c);
    exec_config_random(c, seed, 0);
    seed += 0x100000000ull;
  } while (c->varlen || c->kv_len < 2 || c->lse_layout == EXEC_LSE_NONE);
}

START_TEST(merge_split_halves) {
  uint64_t base = merge_seed();
  printf("execute_merge: SPARSA_TEST_SEED=%" PRIu64 "\n", base);
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  int failures = 0;
  int64_t cases = test_cases(MERGE_CASES, MERGE_CASE_COST);
  for (int it = 0; it < cases; it++) {
    exec_config c;
    memset(&c, 0, sizeof c);
    merge_config(&c, base + (uint64_t)it);
    test_rng rng = {c.seed * 31 + 7};
    int64_t split = test_rng_range(&rng, 1, c.kv_len - 1);
    int alias = (int)test_rng_range(&rng, 0, 2); /* 0: separate out, 1: out = out_a, 2: out = out_b */
    exec_case ec;
    exec_case_init(&ec, &c);
    sparsa_plan *left = NULL, *right = NULL;
    char why[1024] = "";
    int ok = 0;
    void *out_a = exec_case_alloc_out(&ec), *out_b = exec_case_alloc_out(&ec);
    void *merged = exec_case_alloc_out(&ec);
    float *lse_a = exec_case_alloc_lse(&ec), *lse_b = exec_case_alloc_lse(&ec);
    float *lse = exec_case_alloc_lse(&ec);
    sparsa_status s = merge_side_plan(ctx, &ec, split, 0, &left);
    if (s == SPARSA_OK) s = merge_side_plan(ctx, &ec, split, 1, &right);
    if (s == SPARSA_OK) s = sparsa_execute(left, ec.tq.data, ec.tk.data, ec.tv.data, out_a, lse_a, NULL, 0);
    if (s == SPARSA_OK) s = sparsa_execute(right, ec.tq.data, ec.tk.data, ec.tv.data, out_b, lse_b, NULL, 0);
    void *dst = alias == 1 ? out_a : alias == 2 ? out_b : merged;
    float *dst_lse = alias == 1 ? lse_a : alias == 2 ? lse_b : lse;
    if (s == SPARSA_OK) s = sparsa_merge_states(ctx, &ec.problem, out_a, lse_a, out_b, lse_b, dst, dst_lse);
    if (s != SPARSA_OK) {
      snprintf(why, sizeof why, "%s: %s", sparsa_status_string(s), sparsa_last_error());
    } else {
      /* In f16/bf16 the two partial outputs are rounded before the merge
       * rounds again: allow those two extra roundings. */
      if (c.dtype != SPARSA_DTYPE_F32) ec.naive_factor = 4.0;
      ok = exec_case_check(&ec, dst, dst_lse, why, sizeof why);
    }
    if (!ok) {
      if (failures < 5) {
        fprintf(stderr, "FAILED merge case %d (split at key %lld, alias %d):\n", it, (long long)split, alias);
        exec_config_print(&c, stderr);
        fprintf(stderr, "  %s\n", why);
      }
      failures++;
    }
    sparsa_plan_destroy(left);
    sparsa_plan_destroy(right);
    free(out_a);
    free(out_b);
    free(merged);
    free(lse_a);
    free(lse_b);
    free(lse);
    exec_case_free(&ec);
    exec_config_free(&c);
  }
  sparsa_context_destroy(ctx);
  ck_assert_msg(failures == 0, "%d merge cases failed (seed %" PRIu64 ")", failures, base);
}
END_TEST

/* ---- many threads, one plan ---- */

typedef struct thread_job {
  const sparsa_plan *plan;
  const exec_case *ec;
  size_t workspace_bytes;
  const void *expect_out;
  const float *expect_lse;
  size_t out_bytes, lse_bytes;
  int iterations;
  int mismatches;
  sparsa_status status;
} thread_job;

static void *thread_main(void *arg) {
  thread_job *job = arg;
  const exec_case *ec = job->ec;
  for (int it = 0; it < job->iterations; it++) {
    void *out = exec_case_alloc_out(ec);
    float *lse = exec_case_alloc_lse(ec);
    void *ws = it % 2 ? NULL : aligned_alloc(64, (job->workspace_bytes + 63) / 64 * 64 + 64);
    sparsa_status s = sparsa_execute(job->plan, ec->tq.data, ec->tk.data, ec->tv.data, out, lse, ws,
                                     job->workspace_bytes);
    if (s != SPARSA_OK) job->status = s;
    else if (memcmp(out, job->expect_out, job->out_bytes) != 0 ||
             memcmp(lse, job->expect_lse, job->lse_bytes) != 0)
      job->mismatches++;
    free(out);
    free(lse);
    free(ws);
  }
  return NULL;
}

START_TEST(concurrent_execute_one_plan) {
  uint64_t base = merge_seed() ^ 0xabcdefull;
  printf("execute_threads: seed %" PRIu64 "\n", base);
  sparsa_context *ctx = NULL, *single = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &single), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_set_num_threads(ctx, 3), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_set_num_threads(single, 1), SPARSA_OK);
  int64_t rounds = test_cases(THREAD_ROUNDS, THREAD_ROUND_COST);
  for (int round = 0; round < rounds; round++) {
    exec_config c;
    memset(&c, 0, sizeof c);
    merge_config(&c, base + (uint64_t)round);
    exec_case ec;
    exec_case_init(&ec, &c);
    sparsa_mask *mask = NULL, *mask1 = NULL;
    sparsa_plan *plan = NULL, *plan1 = NULL;
    ck_assert_int_eq(exec_case_mask(&ec, ctx, &mask), SPARSA_OK);
    ck_assert_int_eq(exec_case_mask(&ec, single, &mask1), SPARSA_OK);
    ck_assert_int_eq(sparsa_plan_create(ctx, &ec.problem, mask, &plan), SPARSA_OK);
    ck_assert_int_eq(sparsa_plan_create(single, &ec.problem, mask1, &plan1), SPARSA_OK);
    /* One call of the plan alone gives the expected bits; it and the
     * one-thread context's plan (whose schedule may group heads
     * differently) are both checked against the reference, and must agree
     * bit for bit. */
    void *expect = exec_case_alloc_out(&ec), *single_out = exec_case_alloc_out(&ec);
    float *expect_lse = exec_case_alloc_lse(&ec), *single_lse = exec_case_alloc_lse(&ec);
    ck_assert_int_eq(sparsa_execute(plan, ec.tq.data, ec.tk.data, ec.tv.data, expect, expect_lse, NULL, 0), SPARSA_OK);
    ck_assert_int_eq(sparsa_execute(plan1, ec.tq.data, ec.tk.data, ec.tv.data, single_out, single_lse, NULL, 0), SPARSA_OK);
    char why[1024] = "";
    if (!exec_case_check(&ec, expect, expect_lse, why, sizeof why)) {
      exec_config_print(&c, stderr);
      ck_abort_msg("three-thread result wrong: %s", why);
    }
    if (!exec_case_check(&ec, single_out, single_lse, why, sizeof why)) {
      exec_config_print(&c, stderr);
      ck_abort_msg("one-thread result wrong: %s", why);
    }
    /* Results do not depend on the thread count the plan was made for. */
    ck_assert_msg(memcmp(expect, single_out, (size_t)ec.tout.elems * (c.dtype == SPARSA_DTYPE_F32 ? 4 : 2)) == 0 &&
                  memcmp(expect_lse, single_lse, (size_t)ec.lse_elems * sizeof(float)) == 0,
                  "plans made with 3 and 1 threads give different bits");
    free(single_out);
    free(single_lse);
    enum { NUM_THREADS = 8 };
    pthread_t threads[NUM_THREADS];
    thread_job jobs[NUM_THREADS];
    size_t ws = 0;
    sparsa_plan_workspace_size(plan, &ws);
    for (int t = 0; t < NUM_THREADS; t++) {
      jobs[t] = (thread_job){plan, &ec, ws, expect, expect_lse,
                             (size_t)ec.tout.elems * (c.dtype == SPARSA_DTYPE_F32 ? 4 : 2),
                             (size_t)ec.lse_elems * sizeof(float), 4, 0, SPARSA_OK};
      ck_assert_int_eq(pthread_create(&threads[t], NULL, thread_main, &jobs[t]), 0);
    }
    for (int t = 0; t < NUM_THREADS; t++) {
      pthread_join(threads[t], NULL);
      ck_assert_msg(jobs[t].status == SPARSA_OK, "thread %d: %s", t, sparsa_status_string(jobs[t].status));
      if (jobs[t].mismatches) exec_config_print(&c, stderr);
      ck_assert_msg(jobs[t].mismatches == 0, "thread %d: %d results differ from the plan's lone call", t,
                    jobs[t].mismatches);
    }
    free(expect);
    free(expect_lse);
    sparsa_plan_destroy(plan);
    sparsa_plan_destroy(plan1);
    sparsa_mask_destroy(mask);
    sparsa_mask_destroy(mask1);
    exec_case_free(&ec);
    exec_config_free(&c);
  }
  sparsa_context_destroy(single);
  sparsa_context_destroy(ctx);
}
END_TEST

int main(void) {
  test_skip_unless_cpu_isa_runs();
  Suite *suite = suite_create("execute_merge");
  TCase *merge = tcase_create("merge"), *threads = tcase_create("threads");
  tcase_set_timeout(merge, 600);
  tcase_set_timeout(threads, 600);
  tcase_add_test(merge, merge_split_halves);
  tcase_add_test(threads, concurrent_execute_one_plan);
  suite_add_tcase(suite, merge);
  suite_add_tcase(suite, threads);
  return test_run_suite(suite);
}
