/* Many threads creating and destroying patterns, masks and plans at once on
 * one context, sharing patterns and masks (whose reference counts they
 * update concurrently); every mask and plan must equal the one built alone.
 * Under ThreadSanitizer in the sanitizer job. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_main.h"
#include "common/test_setup.h"
#include "concurrency_common.h"

enum { CC_ROUNDS = 12, CC_MAX_BLOCKS = 4096 };

typedef struct cc_bsr {
  int64_t num_blocks;
  int64_t row_ptr[64];
  int32_t col[CC_MAX_BLOCKS];
  uint8_t full[CC_MAX_BLOCKS];
} cc_bsr;

typedef struct cc_create_shared {
  sparsa_context *ctx;
  const sparsa_pattern *shared_pattern;
  const sparsa_mask *shared_mask;
  sparsa_plan *plans[CC_THREADS];  /* one per thread, of shared_mask; each destroys its own */
  cc_bsr expected[2];              /* heads of the two-head mask */
  int64_t expected_plan_blocks;
  _Atomic int failures;
} cc_create_shared;

typedef struct cc_create_arg {
  cc_create_shared *shared;
  int index;
} cc_create_arg;

static sparsa_status cc_two_head_mask(sparsa_context *ctx, const sparsa_pattern *shared,
                                      sparsa_mask **out) {
  static const int64_t cols[] = {0, 17, 200}, offs[] = {0, 1, 64};
  sparsa_pattern *own = NULL, *window = NULL, *uni = NULL;
  sparsa_status st = sparsa_pattern_create_vertical_slash(cols, 3, offs, 3, &own);
  if (st == SPARSA_OK) st = sparsa_pattern_create_window(40, 0, &window);
  const sparsa_pattern *parts[2] = {own, window};
  if (st == SPARSA_OK) st = sparsa_pattern_create_union(parts, 2, &uni);
  if (st == SPARSA_OK) {
    const sparsa_pattern *heads[2] = {shared, uni};
    st = test_mask_create(ctx, (test_mask_shape){500, 700, 16, 32, SPARSA_ALIGN_BOTTOM_RIGHT}, heads, 2,
                          out);
  }
  sparsa_pattern_destroy(own);
  sparsa_pattern_destroy(window);
  sparsa_pattern_destroy(uni);
  return st;
}

static int cc_export(const sparsa_mask *m, int32_t head, cc_bsr *b) {
  memset(b, 0, sizeof *b);
  return sparsa_mask_export_bsr(m, head, b->row_ptr, b->col, b->full, CC_MAX_BLOCKS,
                                &b->num_blocks) == SPARSA_OK;
}

static int cc_same_bsr(const cc_bsr *a, const cc_bsr *b) { return memcmp(a, b, sizeof *a) == 0; }

static void cc_fail(cc_create_shared *s, int thread, const char *what) {
  fprintf(stderr, "thread %d: %s (%s)\n", thread, what, sparsa_last_error());
  atomic_fetch_add(&s->failures, 1);
}

static void cc_create_thread(void *p) {
  cc_create_arg *a = p;
  cc_create_shared *s = a->shared;
  static _Thread_local cc_bsr got; /* large: off the stack */
  for (int round = 0; round < CC_ROUNDS; round++) {
    sparsa_mask *m = NULL;
    if (cc_two_head_mask(s->ctx, s->shared_pattern, &m) != SPARSA_OK) {
      cc_fail(s, a->index, "mask_create");
      continue;
    }
    for (int32_t h = 0; h < 2; h++)
      if (!cc_export(m, h, &got) || !cc_same_bsr(&got, &s->expected[h]))
        cc_fail(s, a->index, "mask differs from the one built alone");
    double td = 0;
    if (sparsa_mask_token_density(m, -1, &td) != SPARSA_OK) cc_fail(s, a->index, "token_density");

    /* A plan of the shared mask, and one of this thread's mask, which is
     * released before the plan (the plan keeps it). */
    sparsa_problem pr;
    cc_problem(&pr, SPARSA_DTYPE_F32);
    sparsa_plan *shared_plan = NULL, *own_plan = NULL;
    int64_t blocks = -1;
    if (sparsa_plan_create(s->ctx, &pr, s->shared_mask, &shared_plan) != SPARSA_OK ||
        sparsa_plan_num_blocks(shared_plan, &blocks) != SPARSA_OK ||
        blocks != s->expected_plan_blocks)
      cc_fail(s, a->index, "plan of the shared mask");
    pr.q_heads = 2;
    pr.kv_heads = 1;
    pr.q_len = 500;
    pr.kv_len = 700;
    if (sparsa_plan_create(s->ctx, &pr, m, &own_plan) != SPARSA_OK)
      cc_fail(s, a->index, "plan of the thread's mask");
    sparsa_mask_destroy(m);
    sparsa_plan_destroy(shared_plan);
    sparsa_plan_destroy(own_plan);
  }
  /* The last of these releases takes the shared mask with it. */
  sparsa_plan_destroy(s->plans[a->index]);
}

START_TEST(test_concurrent_creation) {
  cc_create_shared s;
  memset(&s, 0, sizeof s);
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &s.ctx), SPARSA_OK);
  sparsa_pattern *shared = NULL;
  ck_assert_int_eq(sparsa_pattern_create_sink_window(4, 100, &shared), SPARSA_OK);
  s.shared_pattern = shared;

  sparsa_mask *alone = NULL;
  ck_assert_int_eq(cc_two_head_mask(s.ctx, shared, &alone), SPARSA_OK);
  ck_assert(cc_export(alone, 0, &s.expected[0]) && cc_export(alone, 1, &s.expected[1]));
  ck_assert_int_gt(s.expected[0].num_blocks, 0);
  sparsa_mask_destroy(alone);

  sparsa_mask *shared_mask = NULL;
  ck_assert_int_eq(cc_mask(s.ctx, &shared_mask), SPARSA_OK);
  s.shared_mask = shared_mask;
  sparsa_problem pr;
  cc_problem(&pr, SPARSA_DTYPE_F32);
  for (int i = 0; i < CC_THREADS; i++)
    ck_assert_int_eq(sparsa_plan_create(s.ctx, &pr, shared_mask, &s.plans[i]), SPARSA_OK);
  ck_assert_int_eq(sparsa_plan_num_blocks(s.plans[0], &s.expected_plan_blocks), SPARSA_OK);

  cc_create_arg args[CC_THREADS];
  for (int i = 0; i < CC_THREADS; i++) args[i] = (cc_create_arg){&s, i};
  /* Threads use the shared mask until their own plan of it goes: the
   * caller's handle must outlive them. */
  ck_assert_int_eq(cc_run_threads(CC_THREADS, cc_create_thread, args, sizeof args[0]), 0);
  sparsa_mask_destroy(shared_mask);
  ck_assert_msg(atomic_load(&s.failures) == 0, "%d failures", atomic_load(&s.failures));
  sparsa_pattern_destroy(shared);
  sparsa_context_destroy(s.ctx);
}
END_TEST

/* Patterns shared by reference between threads that combine and drop them. */
typedef struct cc_pattern_arg {
  const sparsa_pattern *base[3];
  _Atomic int *failures;
} cc_pattern_arg;

static void cc_pattern_thread(void *p) {
  cc_pattern_arg *a = p;
  for (int r = 0; r < 200; r++) {
    sparsa_pattern *u = NULL, *x = NULL;
    if (sparsa_pattern_create_union(a->base, 3, &u) != SPARSA_OK) {
      atomic_fetch_add(a->failures, 1);
      continue;
    }
    const sparsa_pattern *pair[2] = {u, a->base[r % 3]};
    if (sparsa_pattern_create_intersection(pair, 2, &x) != SPARSA_OK) atomic_fetch_add(a->failures, 1);
    int32_t vis = -1;
    if (x != NULL && (sparsa_pattern_is_visible(x, 64, 64, 0, 10, 10, &vis) != SPARSA_OK || vis != 1))
      atomic_fetch_add(a->failures, 1);
    sparsa_pattern_destroy(u); /* x still holds it */
    sparsa_pattern_destroy(x);
  }
}

START_TEST(test_concurrent_pattern_references) {
  _Atomic int failures = 0;
  sparsa_pattern *a = NULL, *b = NULL, *c = NULL;
  ck_assert_int_eq(sparsa_pattern_create_causal(&a), SPARSA_OK);
  ck_assert_int_eq(sparsa_pattern_create_window(4, 4, &b), SPARSA_OK);
  ck_assert_int_eq(sparsa_pattern_create_power(2, &c), SPARSA_OK);
  cc_pattern_arg args[CC_THREADS];
  for (int i = 0; i < CC_THREADS; i++) args[i] = (cc_pattern_arg){{a, b, c}, &failures};
  ck_assert_int_eq(cc_run_threads(CC_THREADS, cc_pattern_thread, args, sizeof args[0]), 0);
  ck_assert_int_eq(atomic_load(&failures), 0);
  sparsa_pattern_destroy(a);
  sparsa_pattern_destroy(b);
  sparsa_pattern_destroy(c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("concurrency_create");
  TCase *tc = tcase_create("create");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_concurrent_creation);
  tcase_add_test(tc, test_concurrent_pattern_references);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
