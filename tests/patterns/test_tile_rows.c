/* Rows read straight from a tile list (block_list.c): a block-sparse
 * pattern whose tiles are whole multiples of the mask's blocks, alone or
 * intersected with causal, in either order, as the estimators and the
 * block heads of pattern configs build them. The list holds the same
 * blocks, of the same classes, as the one derived from each query block's
 * candidate spans (sp_block_list_build_direct), and the mask passes every
 * check against the token-level reference.
 *
 * Random geometries: q_len != kv_len, lengths not multiples of the
 * blocks, both alignments, tiles of one to four blocks each way, rows
 * listing no tile, every tile, or tiles past the keys' end. The seed is
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
#include "mask_check.h"
#include "pattern_spans.h"
#include "reference/ref_membership.h"

static uint64_t test_seed(void) {
  const char *env = getenv("SPARSA_TEST_SEED");
  if (env != NULL && *env) return strtoull(env, NULL, 0);
  return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
}

/* Tiles of block_rows x block_cols, each listed with probability
 * density / 8, every tile of a row or none now and then; the last tile
 * column may reach past the keys, where the mask's blocks end. */
static ref_pattern *random_tiles(uint64_t *rng, int64_t q_len, int64_t kv_len, int32_t block_rows,
                                 int32_t block_cols) {
  int64_t rows = (q_len + block_rows - 1) / block_rows;
  int64_t cols = (kv_len + block_cols - 1) / block_cols;
  int64_t *row_ptr = malloc((size_t)(rows + 1) * sizeof *row_ptr);
  int32_t *col = malloc((size_t)(rows * cols + 1) * sizeof *col);
  ck_assert(row_ptr != NULL && col != NULL);
  int64_t density = ref_rng_range(rng, 0, 8), n = 0;
  row_ptr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    int64_t kind = ref_rng_range(rng, 0, 9); /* 0: empty row, 1: full row */
    for (int64_t c = 0; c < cols; c++)
      if (kind == 1 || (kind > 1 && ref_rng_range(rng, 0, 7) < density)) col[n++] = (int32_t)c;
    row_ptr[r + 1] = n;
  }
  ref_pattern *p = ref_pattern_blocks_bsr(block_rows, block_cols, rows, row_ptr, col);
  free(row_ptr);
  free(col);
  return p;
}

START_TEST(tile_rows_match_spans) {
  const char *cases_env = getenv("SPARSA_TEST_CASES");
  int num_cases = cases_env != NULL && *cases_env ? atoi(cases_env) : 800;
  uint64_t seed = test_seed();
  printf("tile_rows: seed %" PRIu64 " (SPARSA_TEST_SEED=%" PRIu64 " replays it)\n", seed, seed);
  uint64_t rng = seed;
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  int64_t pairs = 0, partial = 0;
  for (int n = 0; n < num_cases; n++) {
    int64_t q_len = ref_rng_range(&rng, 1, 1500);
    int64_t kv_len = ref_rng_range(&rng, 0, 2) ? q_len : ref_rng_range(&rng, 1, 1500);
    int32_t block_q = 16 << ref_rng_range(&rng, 0, 3), block_kv = 16 << ref_rng_range(&rng, 0, 3);
    int32_t tile_rows = block_q * (int32_t)ref_rng_range(&rng, 1, 4);
    int32_t tile_cols = block_kv * (int32_t)ref_rng_range(&rng, 1, 4);
    int top_left = (int)ref_rng_range(&rng, 0, 1);
    int form = (int)ref_rng_range(&rng, 0, 2); /* 0: tiles, 1: tiles & causal, 2: causal & tiles */
    ref_pattern *tiles = random_tiles(&rng, q_len, kv_len, tile_rows, tile_cols);
    ref_pattern *ref = tiles;
    if (form > 0) {
      ref_pattern *parts[2] = {tiles, ref_pattern_causal()};
      if (form == 2) {
        parts[0] = parts[1];
        parts[1] = tiles;
      }
      ref = ref_pattern_intersection(parts, 2);
    }
    ck_assert_ptr_nonnull(ref);
    sparsa_pattern *lib = NULL;
    ck_assert_int_eq(ref_pattern_to_sparsa(ref, &lib), SPARSA_OK);
    char what[300];
    snprintf(what, sizeof what,
             "seed %" PRIu64 " case %d: form %d, q %lld kv %lld blocks %dx%d tiles %dx%d %s", seed,
             n, form, (long long)q_len, (long long)kv_len, (int)block_q, (int)block_kv,
             (int)tile_rows, (int)tile_cols, top_left ? "top-left" : "bottom-right");
    sp_geom g = sp_geom_make(q_len, kv_len, top_left ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT);
    const sparsa_pattern *heads[1] = {lib};
    sp_block_list fast, direct;
    ck_assert_msg(sp_block_list_build(heads, 1, &g, block_q, block_kv, &fast) == SPARSA_OK, "%s: %s",
                  what, sparsa_last_error());
    ck_assert_msg(sp_block_list_build_direct(heads, 1, &g, block_q, block_kv, &direct) == SPARSA_OK,
                  "%s: %s", what, sparsa_last_error());
    list_compare_blocks(&fast, &direct, what, "from the tiles", "from the spans");
    partial += fast.num_partial;
    sp_block_list_free(&fast);
    sp_block_list_free(&direct);
    mask_case c = {q_len, kv_len, block_q, block_kv, top_left};
    char msg[512] = "";
    int failures = mask_check(ctx, ref, &c, msg, sizeof msg, &pairs);
    ck_assert_msg(failures == 0, "%s: %s", what, msg);
    sparsa_pattern_destroy(lib);
    ref_pattern_free(ref);
  }
  printf("tile_rows: %d cases, %lld partial blocks, %lld pairs checked\n", num_cases,
         (long long)partial, (long long)pairs);
  ck_assert_int_gt(partial, 0); /* the causal frontier was crossed */
  sparsa_context_destroy(ctx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tile_rows");
  TCase *tc = tcase_create("tile_rows");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, tile_rows_match_spans);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
