/* Hundreds of random patterns (any kind, unions and intersections, empty
 * heads, neighborhoods when the lengths allow a grid) at random lengths,
 * block shapes and alignments, checked against the reference. The seed is
 * printed; set SPARSA_TEST_SEED to replay a run. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/test_main.h"
#include "mask_check.h"
#include "reference/ref_membership.h"

static uint64_t test_seed(void) {
  const char *env = getenv("SPARSA_TEST_SEED");
  if (env != NULL && *env) return strtoull(env, NULL, 0);
  return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
}

START_TEST(random_patterns) {
  static const int64_t lengths[] = {1, 2, 15, 16, 17, 31, 63, 64, 65, 100, 127, 128, 129, 200, 257, 300};
  enum { NUM_LENGTHS = sizeof lengths / sizeof lengths[0], NUM_PATTERNS = 600 };
  uint64_t seed = test_seed();
  printf("mask_random: seed %" PRIu64 " (SPARSA_TEST_SEED=%" PRIu64 " replays it)\n", seed, seed);
  uint64_t rng = seed;
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  int64_t pairs = 0;
  int kinds_seen[16] = {0};
  for (int n = 0; n < NUM_PATTERNS; n++) {
    mask_case c;
    c.q_len = lengths[ref_rng_range(&rng, 0, NUM_LENGTHS - 1)];
    /* Equal lengths a third of the time, so neighborhoods come up. */
    c.kv_len = ref_rng_range(&rng, 0, 2) == 0 ? c.q_len : lengths[ref_rng_range(&rng, 0, NUM_LENGTHS - 1)];
    c.block_q = 16 << ref_rng_range(&rng, 0, 4);
    c.block_kv = 16 << ref_rng_range(&rng, 0, 4);
    c.top_left = (int)ref_rng_range(&rng, 0, 1);
    ref_pattern *p = ref_pattern_random(&rng, c.q_len, c.kv_len);
    ck_assert_ptr_nonnull(p);
    kinds_seen[p->kind]++;
    char msg[1024];
    int failures = mask_check(ctx, p, &c, msg, sizeof msg, &pairs);
    ck_assert_msg(failures == 0, "seed %" PRIu64 ", pattern %d: %d failures; first: %s", seed, n,
                  failures, msg);
    ref_pattern_free(p);
  }
  printf("mask_random: %d patterns, %lld pairs; per kind:", NUM_PATTERNS, (long long)pairs);
  for (int k = 0; k < 14; k++) printf(" %d", kinds_seen[k]);
  printf("\n");
  for (int k = 0; k < 14; k++) ck_assert_msg(kinds_seen[k] > 0, "kind %d never drawn", k);
  sparsa_context_destroy(ctx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("mask_random");
  TCase *tc = tcase_create("random");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, random_patterns);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
