/* Many threads asking one fresh mask for its per-block view at once
 * (sp_block_list_csr: built by the first caller, published with a
 * compare-exchange): every thread must get the same view, equal to the
 * runs expanded, while others read the runs through the public queries.
 * Under ThreadSanitizer in the sanitizer job. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_list.h"
#include "common/test_main.h"
#include "concurrency_common.h"
#include "mask.h"

typedef struct cc_view_shared {
  const sparsa_mask *mask;
  sp_block_csr views[CC_THREADS];
  int64_t exported[CC_THREADS];
  _Atomic int failures;
} cc_view_shared;

typedef struct cc_view_arg {
  cc_view_shared *shared;
  int index;
} cc_view_arg;

static void cc_view_thread(void *p) {
  cc_view_arg *a = p;
  cc_view_shared *s = a->shared;
  cc_barrier_wait();
  /* Odd threads read the runs through the public queries first, so view
   * building overlaps readers of the same list. */
  if (a->index % 2 == 1) {
    int64_t n = -1;
    if (sparsa_mask_export_bsr(s->mask, 0, NULL, NULL, NULL, 0, &n) != SPARSA_OK) {
      atomic_fetch_add(&s->failures, 1);
      return;
    }
    s->exported[a->index] = n;
  }
  if (sp_block_list_csr(&s->mask->blocks, &s->views[a->index]) != SPARSA_OK) {
    fprintf(stderr, "thread %d: %s\n", a->index, sparsa_last_error());
    atomic_fetch_add(&s->failures, 1);
  }
}

/* A mask of several runs per row: vertical columns, slashes and a window. */
static sparsa_status cc_view_mask(sparsa_context *ctx, sparsa_mask **out) {
  static const int64_t cols[] = {0, 17, 200, 201, 202, 650}, offs[] = {0, 1, 64, 300};
  sparsa_pattern *vs = NULL;
  sparsa_status st = sparsa_pattern_create_vertical_slash(cols, 6, offs, 4, &vs);
  if (st != SPARSA_OK) return st;
  sparsa_mask_desc d;
  sparsa_mask_desc_init(&d);
  d.q_len = 900;
  d.kv_len = 1000;
  d.block_q = 16;
  d.block_kv = 16;
  d.patterns = (const sparsa_pattern *const *)&vs;
  st = sparsa_mask_create(ctx, &d, out);
  sparsa_pattern_destroy(vs);
  return st;
}

START_TEST(view_built_once_under_contention) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  int threads = cc_threads();
  for (int round = 0; round < cc_repeats(); round++) {
    cc_view_shared s;
    memset(&s, 0, sizeof s);
    atomic_init(&s.failures, 0);
    sparsa_mask *m = NULL;
    ck_assert_int_eq(cc_view_mask(ctx, &m), SPARSA_OK);
    s.mask = m;
    cc_view_arg args[CC_THREADS];
    for (int t = 0; t < threads; t++) args[t] = (cc_view_arg){&s, t};
    ck_assert_int_eq(cc_run_threads(threads, cc_view_thread, args, sizeof args[0]), 0);
    ck_assert_int_eq(atomic_load(&s.failures), 0);
    const sp_block_list *b = &m->blocks;
    int64_t n = b->row_ptr[b->num_q_blocks];
    for (int t = 1; t < threads; t++)
      ck_assert_msg(s.views[t].col == s.views[0].col && s.views[t].full == s.views[0].full,
                    "round %d: threads 0 and %d got different views", round, t);
    for (int t = 1; t < threads; t += 2) ck_assert_int_eq(s.exported[t], n);
    int32_t *col = malloc((size_t)n * sizeof *col);
    uint8_t *full = malloc((size_t)n);
    sp_block_list_expand(b, 0, b->run_ptr[b->num_q_blocks], col, full);
    ck_assert_int_eq(memcmp(col, s.views[0].col, (size_t)n * sizeof *col), 0);
    ck_assert_int_eq(memcmp(full, s.views[0].full, (size_t)n), 0);
    free(col);
    free(full);
    sparsa_mask_destroy(m);
  }
  sparsa_context_destroy(ctx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("concurrency_block_view");
  TCase *tc = tcase_create("view");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, view_built_once_under_contention);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
