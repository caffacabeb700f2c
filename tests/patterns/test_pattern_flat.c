/* The flat encoding (core/pattern_flat.h) against the scalar rule and the
 * reference, kind by kind and on random trees; and its depth limit. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/test_main.h"
#include "pattern.h"
#include "pattern_flat.h"
#include "reference/ref_membership.h"

static int64_t compare_all(const ref_pattern *rp, int64_t q, int64_t kv, int top_left) {
  sparsa_pattern *lib = NULL;
  ck_assert_int_eq(ref_pattern_to_sparsa(rp, &lib), SPARSA_OK);
  sp_flat_pattern f;
  ck_assert_int_eq(sp_pattern_flatten(lib, &f), SPARSA_OK);
  ck_assert_int_ge(f.num_nodes, 1);
  ck_assert_int_le(f.max_depth, SP_FLAT_MAX_DEPTH);
  sp_geom g = sp_geom_make(q, kv, top_left ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT);
  char desc[300];
  int64_t ones = 0;
  for (int64_t i = 0; i < q; i++)
    for (int64_t j = 0; j < kv; j++) {
      int want = ref_visible(rp, q, kv, top_left, i, j);
      int lib_v = sp_pattern_visible(lib, &g, i, j);
      int flat_v = sp_flat_visible(f.nodes, f.num_nodes, f.data, g, i, j);
      if (want != lib_v || want != flat_v) {
        ref_pattern_describe(rp, desc, sizeof desc);
        ck_abort_msg("%s at %lld x %lld (%s), pair (%lld, %lld): reference %d, rule %d, flat %d",
                     desc, (long long)q, (long long)kv, top_left ? "top-left" : "bottom-right",
                     (long long)i, (long long)j, want, lib_v, flat_v);
      }
      ones += want;
    }
  sp_flat_pattern_free(&f);
  sparsa_pattern_destroy(lib);
  return ones;
}

START_TEST(flat_random_trees) {
  const char *env = getenv("SPARSA_TEST_SEED");
  uint64_t seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
  printf("pattern_flat: seed %" PRIu64 "\n", seed);
  uint64_t rng = seed;
  int64_t ones = 0, pairs = 0;
  for (int n = 0; n < 400; n++) {
    int64_t q = ref_rng_range(&rng, 1, 150);
    int64_t kv = ref_rng_range(&rng, 0, 2) == 0 ? q : ref_rng_range(&rng, 1, 150);
    ref_pattern *rp = ref_pattern_random(&rng, q, kv);
    ones += compare_all(rp, q, kv, (int)ref_rng_range(&rng, 0, 1));
    pairs += q * kv;
    ref_pattern_free(rp);
  }
  printf("pattern_flat: %lld pairs, %lld visible\n", (long long)pairs, (long long)ones);
  /* Both values must occur, or the comparison proved little. */
  ck_assert_int_gt(ones, 0);
  ck_assert_int_lt(ones, pairs);
}
END_TEST

START_TEST(flat_every_kind) {
  int64_t cols[] = {2, 9, 40}, offs[] = {0, 1, 16};
  sparsa_neighborhood nb = {sizeof nb, 2, {6, 10, 0}, {3, 5, 0}, {2, 1, 0}, {0, 1, 0}, 0};
  int64_t rp_[] = {0, 2, 3, 3};
  int32_t ci[] = {1, 0, 2};
  ref_pattern *kinds[] = {
      ref_pattern_dense(),
      ref_pattern_none(),
      ref_pattern_causal(),
      ref_pattern_window(4, 2),
      ref_pattern_sink_window(3, 5),
      ref_pattern_dilated(SPARSA_UNBOUNDED, 6, 4),
      ref_pattern_global(cols, 3),
      ref_pattern_blocks_bsr(7, 11, 3, rp_, ci),
      ref_pattern_vertical_slash(cols, 3, offs, 3),
      ref_pattern_neighborhood(&nb),
      ref_pattern_radial(9, 3, 4),
      ref_pattern_power(3),
  };
  enum { N = sizeof kinds / sizeof kinds[0] };
  for (int k = 0; k < N; k++)
    for (int tl = 0; tl < 2; tl++) {
      int64_t q = kinds[k]->kind == SPARSA_PATTERN_NEIGHBORHOOD ? 60 : 47;
      int64_t kv = kinds[k]->kind == SPARSA_PATTERN_NEIGHBORHOOD ? 60 : 53;
      compare_all(kinds[k], q, kv, tl);
      if (kinds[k]->kind != SPARSA_PATTERN_NEIGHBORHOOD) compare_all(kinds[k], kv, q, tl);
    }
  ref_pattern *u = ref_pattern_union(kinds, N); /* takes all of them */
  compare_all(u, 60, 60, 0);
  ref_pattern_free(u);
}
END_TEST

/* Nested unions whose evaluation needs more pending values than the stack
 * holds are refused, not mis-evaluated. */
START_TEST(flat_depth_limit) {
  sparsa_pattern *leaf = NULL, *level = NULL;
  ck_assert_int_eq(sparsa_pattern_create_causal(&leaf), SPARSA_OK);
  level = leaf;
  const sparsa_pattern *parts[64];
  for (int depth = 0; depth < 5; depth++) {
    for (int k = 0; k < 63; k++) parts[k] = leaf;
    parts[63] = level;
    sparsa_pattern *next = NULL;
    ck_assert_int_eq(sparsa_pattern_create_union(parts, 64, &next), SPARSA_OK);
    if (level != leaf) sparsa_pattern_destroy(level);
    level = next;
  }
  sp_flat_pattern f;
  ck_assert_int_eq(sp_pattern_flatten(level, &f), SPARSA_ERR_UNSUPPORTED);
  ck_assert_ptr_null(f.nodes);
  ck_assert(sparsa_last_error()[0] != 0);
  sparsa_pattern_destroy(level);
  sparsa_pattern_destroy(leaf);
}
END_TEST

int main(void) {
  Suite *s = suite_create("pattern_flat");
  TCase *tc = tcase_create("flat");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, flat_every_kind);
  tcase_add_test(tc, flat_random_trees);
  tcase_add_test(tc, flat_depth_limit);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
