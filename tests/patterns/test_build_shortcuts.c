/* The mask builder's shortcuts change no result: a block list built with
 * them (rows copied from the previous query block, moved from an earlier
 * one by a translation, heads copied from a head sharing the pattern) is
 * identical, run for run, to the list derived row by row from each query
 * block's own candidate spans (sp_block_list_build_direct).
 *
 * Random geometries: q_len != kv_len, lengths not multiples of the blocks,
 * both alignments, block sizes 16..256; random patterns of every kind,
 * unions and intersections nested, neighborhoods on grids whose axes line
 * up with the blocks (where translations apply) or not, radial patterns
 * whose frames are whole numbers of blocks of some sizes, and unions of
 * random patterns with global tokens. The seed is
 * printed; set SPARSA_TEST_SEED to replay a run, SPARSA_TEST_CASES to
 * change the number of cases. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block_list.h"
#include "common/test_main.h"
#include "list_compare.h"
#include "pattern_spans.h"
#include "reference/ref_membership.h"

enum { MAX_HEADS = 3 };

static uint64_t test_seed(void) {
  const char *env = getenv("SPARSA_TEST_SEED");
  if (env != NULL && *env) return strtoull(env, NULL, 0);
  return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
}

/* Grid extents (at most 16384 cells), powers of two more often than not,
 * so that steps along an axis are often whole query and key blocks. */
static int64_t random_grid(uint64_t *rng, int32_t *dims, int64_t extent[3]) {
  for (;;) {
    int64_t cells = 1;
    *dims = (int32_t)ref_rng_range(rng, 1, 3);
    for (int a = 0; a < *dims; a++) {
      extent[a] = ref_rng_range(rng, 0, 3) ? (int64_t)1 << ref_rng_range(rng, 0, 6)
                                           : ref_rng_range(rng, 1, 40);
      if (*dims == 1) extent[a] = ref_rng_range(rng, 1, 3000);
      cells *= extent[a];
    }
    if (cells <= 16384) return cells;
  }
}

static ref_pattern *random_neighborhood_on(uint64_t *rng, int32_t dims, const int64_t extent[3]) {
  sparsa_neighborhood nb;
  memset(&nb, 0, sizeof nb);
  nb.struct_size = sizeof nb;
  nb.num_dims = dims;
  for (int a = 0; a < dims; a++) {
    int64_t e = extent[a];
    nb.extent[a] = e;
    nb.kernel[a] = ref_rng_range(rng, 1, e + 2);
    nb.dilation[a] = ref_rng_range(rng, 0, 3) ? 1 : ref_rng_range(rng, 1, e / 2 + 1);
    nb.causal[a] = ref_rng_range(rng, 0, 3) == 0;
  }
  return ref_pattern_neighborhood(&nb);
}

START_TEST(shortcuts_change_nothing) {
  const char *cases_env = getenv("SPARSA_TEST_CASES");
  /* A reduced run (SPARSA_TEST_CASES, the sanitizer and valgrind jobs)
   * checks its cases but is too short to promise that every shortcut came
   * up, so only the full run asserts that they did. */
  const int full_run = cases_env == NULL || *cases_env == '\0';
  int num_cases = full_run ? 1500 : atoi(cases_env);
  uint64_t seed = test_seed();
  printf("build_shortcuts: seed %" PRIu64 " (SPARSA_TEST_SEED=%" PRIu64 " replays it)\n", seed, seed);
  uint64_t rng = seed;
  int64_t translated_rows = 0, with_head = 0, head_repeated = 0, differing_lengths = 0;
  int64_t union_rows = 0; /* rows of unions with global tokens that have no global row */
  for (int n = 0; n < num_cases; n++) {
    int64_t q_len, kv_len;
    int32_t heads = (int32_t)ref_rng_range(&rng, 1, MAX_HEADS);
    ref_pattern *ref[MAX_HEADS];
    sparsa_pattern *lib[MAX_HEADS];
    const sparsa_pattern *of_head[MAX_HEADS];
    int mode = (int)ref_rng_range(&rng, 0, 3);
    if (mode == 3) {
      /* Unions of some pattern with global tokens (either order), whose
       * blocks with no global row take their runs from the other part's
       * spans and the global columns (sp_union_global_runs). */
      q_len = ref_rng_range(&rng, 1, 2500);
      kv_len = ref_rng_range(&rng, 0, 2) ? q_len : ref_rng_range(&rng, 1, 2500);
      for (int32_t h = 0; h < heads; h++) {
        int64_t tokens[40], num_tokens = ref_rng_range(&rng, 0, 40);
        int64_t longest = q_len > kv_len ? q_len : kv_len;
        for (int64_t k = 0; k < num_tokens; k++) tokens[k] = ref_rng_range(&rng, 0, longest + 3);
        int g = (int)ref_rng_range(&rng, 0, 1);
        ref_pattern *parts[2];
        parts[g] = ref_pattern_global(tokens, num_tokens);
        parts[1 - g] = ref_pattern_random(&rng, q_len, kv_len);
        ref[h] = ref_pattern_union(parts, 2);
      }
    } else if (mode == 2) {
      /* Radial patterns whose frames are whole numbers of blocks of some
       * sizes, where a query block repeats the one a frame earlier. */
      q_len = ref_rng_range(&rng, 1, 3000);
      kv_len = ref_rng_range(&rng, 0, 1) ? q_len : ref_rng_range(&rng, 1, 3000);
      for (int32_t h = 0; h < heads; h++) {
        int64_t F = (16 << ref_rng_range(&rng, 0, 3)) * ref_rng_range(&rng, 1, 3);
        int64_t max_frames = ref_rng_range(&rng, 0, 2) == 0 ? SPARSA_UNBOUNDED
                                                            : ref_rng_range(&rng, 0, kv_len / F + 2);
        ref[h] = ref_rng_range(&rng, 0, 3) ? ref_pattern_radial(F, ref_rng_range(&rng, 0, F + 2), max_frames)
                                           : ref_pattern_random(&rng, q_len, kv_len);
      }
    } else if (mode == 1) {
      /* Neighborhoods: every head on one grid. */
      int32_t dims;
      int64_t extent[3];
      q_len = kv_len = random_grid(&rng, &dims, extent);
      for (int32_t h = 0; h < heads; h++)
        ref[h] = h == 0 || ref_rng_range(&rng, 0, 2) ? random_neighborhood_on(&rng, dims, extent)
                                                     : ref_pattern_random(&rng, q_len, kv_len);
    } else {
      q_len = ref_rng_range(&rng, 1, 2500);
      kv_len = ref_rng_range(&rng, 0, 2) ? q_len : ref_rng_range(&rng, 1, 2500);
      for (int32_t h = 0; h < heads; h++) ref[h] = ref_pattern_random(&rng, q_len, kv_len);
    }
    differing_lengths += q_len != kv_len;
    for (int32_t h = 0; h < heads; h++) {
      ck_assert_ptr_nonnull(ref[h]);
      ck_assert_int_eq(ref_pattern_to_sparsa(ref[h], &lib[h]), SPARSA_OK);
      of_head[h] = lib[h];
    }
    if (heads > 1 && ref_rng_range(&rng, 0, 3) == 0) of_head[heads - 1] = lib[0]; /* shared */
    int32_t block_q = 16 << ref_rng_range(&rng, 0, 4), block_kv = 16 << ref_rng_range(&rng, 0, 4);
    int top_left = (int)ref_rng_range(&rng, 0, 1);
    sp_geom g = sp_geom_make(q_len, kv_len, top_left ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT);
    char what[400], d[300];
    ref_pattern_describe(ref[0], d, sizeof d);
    snprintf(what, sizeof what, "seed %" PRIu64 " case %d: %d heads, head 0 %s, q %lld kv %lld blocks %dx%d %s",
             seed, n, (int)heads, d, (long long)q_len, (long long)kv_len, (int)block_q,
             (int)block_kv, top_left ? "top-left" : "bottom-right");
    sp_block_list fast, direct;
    ck_assert_msg(sp_block_list_build(of_head, heads, &g, block_q, block_kv, &fast) == SPARSA_OK,
                  "%s: %s", what, sparsa_last_error());
    ck_assert_msg(sp_block_list_build_direct(of_head, heads, &g, block_q, block_kv, &direct) == SPARSA_OK,
                  "%s: %s", what, sparsa_last_error());
    list_compare_runs(&fast, &direct, what, "with the shortcuts", "without");
    sp_tiling t = sp_tiling_make(&g, block_q, block_kv);
    for (int32_t h = 0; h < heads; h++)
      for (int64_t qb = 0; qb < t.num_q_blocks; qb++) {
        sp_translation tr;
        if (!sp_pattern_translation(of_head[h], &t, qb, &tr)) continue;
        translated_rows++;
        with_head += tr.head > 0;
        head_repeated += tr.head > 0 && tr.head_repeats;
      }
    for (int32_t h = 0; h < heads; h++) {
      sp_span_prep *prep = NULL;
      ck_assert_int_eq(sp_span_prep_create(of_head[h], &t, &prep), SPARSA_OK);
      if (prep->global_part >= 0)
        for (int64_t qb = 0; qb < t.num_q_blocks; qb++)
          union_rows += prep->parts[prep->global_part].rows_in[qb] == 0;
      sp_span_prep_free(prep);
    }
    sp_block_list_free(&fast);
    sp_block_list_free(&direct);
    for (int32_t h = 0; h < heads; h++) {
      sparsa_pattern_destroy(lib[h]);
      ref_pattern_free(ref[h]);
    }
  }
  printf("build_shortcuts: %d cases, %lld with q_len != kv_len, %lld query blocks translated "
         "(%lld with a head, %lld of those repeated), %lld rows of unions with global tokens "
         "without a global row\n", num_cases, (long long)differing_lengths,
         (long long)translated_rows, (long long)with_head, (long long)head_repeated,
         (long long)union_rows);
  /* The shortcuts were taken, not merely allowed. */
  if (full_run) {
    ck_assert_int_gt(translated_rows, 0);
    ck_assert_int_gt(with_head, 0);
    ck_assert_int_gt(head_repeated, 0);
    ck_assert_int_gt(union_rows, 0);
    ck_assert_int_gt(differing_lengths, 0);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("build_shortcuts");
  TCase *tc = tcase_create("shortcuts");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, shortcuts_change_nothing);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
