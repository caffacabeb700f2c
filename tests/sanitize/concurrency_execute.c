/* Many threads executing one plan at once, each with its own output, lse
 * and workspace: the plan is immutable, so every thread must get exactly
 * (bit for bit) the result of a single call made alone. Run with contexts of
 * one worker (callers' threads only) and of several (concurrent calls
 * sharing one thread pool), in f32 and bf16. Under ThreadSanitizer in the
 * sanitizer job. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_main.h"
#include "concurrency_common.h"

typedef struct cc_exec_shared {
  const sparsa_plan *plan;
  sparsa_dtype dtype;
  const void *q, *k, *v;
  const void *expected_out;
  const float *expected_lse;
  size_t ws_bytes;
  _Atomic int failures;
  _Atomic int mismatches;
} cc_exec_shared;

typedef struct cc_exec_arg {
  cc_exec_shared *shared;
  int index;
} cc_exec_arg;

static void cc_exec_thread(void *p) {
  cc_exec_arg *a = p;
  cc_exec_shared *s = a->shared;
  size_t out_bytes = cc_q_elems() * cc_dtype_size(s->dtype);
  size_t lse_bytes = cc_lse_elems() * sizeof(float);
  void *out = malloc(out_bytes);
  float *lse = malloc(lse_bytes);
  /* Odd threads bring a workspace; even ones let the engine allocate. */
  void *ws = NULL;
  if ((a->index & 1) && s->ws_bytes > 0) ws = aligned_alloc(64, (s->ws_bytes + 63) / 64 * 64);
  for (int r = 0; r < cc_repeats(); r++) {
    memset(out, 0xA5, out_bytes); /* stale contents must not show through */
    memset(lse, 0xA5, lse_bytes);
    sparsa_status st = sparsa_execute(s->plan, s->q, s->k, s->v, out, lse, ws, ws ? s->ws_bytes : 0);
    if (st != SPARSA_OK) {
      fprintf(stderr, "thread %d: execute: %s (%s)\n", a->index, sparsa_status_string(st),
              sparsa_last_error());
      atomic_fetch_add(&s->failures, 1);
    } else if (memcmp(out, s->expected_out, out_bytes) != 0 ||
               memcmp(lse, s->expected_lse, lse_bytes) != 0) {
      atomic_fetch_add(&s->mismatches, 1);
    }
  }
  free(ws);
  free(out);
  free(lse);
}

static void cc_check_execute(sparsa_dtype dtype, int32_t pool_threads) {
  sparsa_context *ctx = NULL;
  sparsa_mask *mask = NULL;
  sparsa_plan *plan = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  ck_assert_int_eq(sparsa_context_set_num_threads(ctx, pool_threads), SPARSA_OK);
  ck_assert_int_eq(cc_mask(ctx, &mask), SPARSA_OK);
  sparsa_problem p;
  cc_problem(&p, dtype);
  ck_assert_int_eq(sparsa_plan_create(ctx, &p, mask, &plan), SPARSA_OK);
  sparsa_mask_destroy(mask);

  cc_exec_shared s;
  memset(&s, 0, sizeof s);
  s.plan = plan;
  s.dtype = dtype;
  s.q = cc_tensor(dtype, cc_q_elems(), 11);
  s.k = cc_tensor(dtype, cc_kv_elems(), 12);
  s.v = cc_tensor(dtype, cc_kv_elems(), 13);
  ck_assert_int_eq(sparsa_plan_workspace_size(plan, &s.ws_bytes), SPARSA_OK);
  void *out = malloc(cc_q_elems() * cc_dtype_size(dtype));
  float *lse = malloc(cc_lse_elems() * sizeof *lse);
  /* The single-thread answer: one call, alone. */
  ck_assert_int_eq(sparsa_execute(plan, s.q, s.k, s.v, out, lse, NULL, 0), SPARSA_OK);
  s.expected_out = out;
  s.expected_lse = lse;

  cc_exec_arg args[CC_THREADS];
  for (int i = 0; i < CC_THREADS; i++) args[i] = (cc_exec_arg){&s, i};
  ck_assert_int_eq(cc_run_threads(cc_threads(), cc_exec_thread, args, sizeof args[0]), 0);
  ck_assert_msg(atomic_load(&s.failures) == 0, "%d executes failed", atomic_load(&s.failures));
  ck_assert_msg(atomic_load(&s.mismatches) == 0,
                "%d of %d concurrent executes differ from the single call",
                atomic_load(&s.mismatches), cc_threads() * cc_repeats());
  sparsa_plan_destroy(plan);
  sparsa_context_destroy(ctx);
  free((void *)s.q);
  free((void *)s.k);
  free((void *)s.v);
  free(out);
  free(lse);
}

START_TEST(test_one_plan_callers_only_f32) { cc_check_execute(SPARSA_DTYPE_F32, 1); }
END_TEST

START_TEST(test_one_plan_shared_pool_f32) { cc_check_execute(SPARSA_DTYPE_F32, 3); }
END_TEST

START_TEST(test_one_plan_shared_pool_bf16) { cc_check_execute(SPARSA_DTYPE_BF16, 2); }
END_TEST

START_TEST(test_one_plan_callers_only_f16) { cc_check_execute(SPARSA_DTYPE_F16, 1); }
END_TEST

int main(void) {
  Suite *s = suite_create("concurrency_execute");
  TCase *tc = tcase_create("execute");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_one_plan_callers_only_f32);
  tcase_add_test(tc, test_one_plan_shared_pool_f32);
  tcase_add_test(tc, test_one_plan_shared_pool_bf16);
  tcase_add_test(tc, test_one_plan_callers_only_f16);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
