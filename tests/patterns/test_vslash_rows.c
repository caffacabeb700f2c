/* Vertical-slash masks built from the per-build bitmaps (pattern_vslash.c)
 * against (1) the span merge they replace, run for run
 * (sp_block_list_build_direct derives every row by the merge), and (2) a
 * brute-force evaluation of the rule token by token: a block is listed
 * exactly when one of its pairs is visible (j a listed column or i - j a
 * listed offset, j <= i aligned), and full only when all are.
 *
 * Random column and offset lists, with the edge cases drawn on purpose:
 * entries past the keys or past every offset that matters (up to 2^40),
 * duplicates, one entry or none, many (whole key blocks of columns, long
 * runs of consecutive offsets that fill blocks, clusters), q_len != kv_len
 * in both alignments, lengths off the block grid, query blocks that are
 * whole key blocks (where the bitmaps apply) and ones that are not. The
 * seed is printed; SPARSA_TEST_SEED replays a run, SPARSA_TEST_CASES sets
 * the number of cases. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block_list.h"
#include "list_compare.h"
#include "common/test_main.h"
#include "mask_check.h"
#include "pattern_spans.h"
#include "reference/ref_membership.h"

static uint64_t test_seed(void) {
  const char *env = getenv("SPARSA_TEST_SEED");
  if (env != NULL && *env) return strtoull(env, NULL, 0);
  return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
}

/* A list of up to cap entries: a few, many, runs of consecutive values
 * (whole blocks of columns, bands of offsets), values past `range` (some
 * far past it) and duplicates. */
static int64_t random_list(uint64_t *rng, int64_t range, int64_t block, int64_t *out,
                           int64_t cap) {
  int64_t n = 0;
  int mode = (int)ref_rng_range(rng, 0, 5);
  int64_t want = mode == 0   ? ref_rng_range(rng, 0, 1)
                 : mode == 1 ? ref_rng_range(rng, 1, 8)
                             : ref_rng_range(rng, 1, cap / 2);
  while (n < want && n < cap) {
    int what = (int)ref_rng_range(rng, 0, 9);
    if (what == 0 && n + 1 < cap) {
      /* past the range, near it or far */
      out[n++] = ref_rng_range(rng, 0, 1) ? range + ref_rng_range(rng, 0, 2 * block)
                                          : ((int64_t)1 << 40) + ref_rng_range(rng, 0, 5);
    } else if (what <= 2) {
      /* a run of consecutive values, often a block or two long or more */
      int64_t len = ref_rng_range(rng, 1, 3 * block + 2), at = ref_rng_range(rng, 0, range);
      if (ref_rng_range(rng, 0, 1)) at -= at % block; /* aligned to a block */
      for (int64_t k = 0; k < len && n < cap; k++) out[n++] = at + k;
    } else if (what == 3 && n > 0) {
      int64_t dup = out[ref_rng_range(rng, 0, n - 1)]; /* a duplicate */
      out[n++] = dup;
    } else {
      out[n++] = ref_rng_range(rng, 0, range);
    }
  }
  /* Shuffle: the constructor sorts. */
  for (int64_t k = n - 1; k > 0; k--) {
    int64_t r = ref_rng_range(rng, 0, k), tmp = out[k];
    out[k] = out[r];
    out[r] = tmp;
  }
  return n;
}

/* The rule, token by token, from lookup tables of the lists. */
typedef struct brute {
  int64_t q_len, kv_len, off;
  uint8_t *col, *diag; /* kv_len entries; q_len + kv_len entries by offset */
} brute;

static int brute_visible(const brute *b, int64_t i, int64_t j) {
  int64_t d = i + b->off - j;
  if (d < 0) return 0;
  return b->col[j] || (d < b->q_len + b->kv_len && b->diag[d]);
}

/* Every block of head 0 of list against the rule. */
static void check_brute(const sp_block_list *l, const brute *b, const char *what) {
  for (int64_t qb = 0; qb < l->num_q_blocks; qb++) {
    int64_t q0 = qb * l->block_q, q1 = q0 + l->block_q < b->q_len ? q0 + l->block_q : b->q_len;
    for (int64_t r = l->run_ptr[qb], prev_end = 0; r < l->run_ptr[qb + 1]; r++) {
      ck_assert_msg(l->runs[r].begin >= prev_end && l->runs[r].begin < sp_block_run_end(l->runs[r]),
                    "%s: row %lld: run %lld [%d, %lld) is empty or overlaps the one before", what,
                    (long long)qb, (long long)(r - l->run_ptr[qb]), (int)l->runs[r].begin,
                    (long long)sp_block_run_end(l->runs[r]));
      prev_end = sp_block_run_end(l->runs[r]);
    }
    sp_block_cursor c = sp_block_cursor_at(l, qb);
    for (int64_t kb = 0; kb < l->num_kv_blocks; kb++) {
      int64_t k0 = kb * l->block_kv, k1 = k0 + l->block_kv < b->kv_len ? k0 + l->block_kv : b->kv_len;
      int64_t nv = 0;
      for (int64_t i = q0; i < q1; i++)
        for (int64_t j = k0; j < k1; j++) nv += brute_visible(b, i, j);
      int listed = c.block == kb, full = listed && c.full;
      if (listed) sp_block_cursor_next(&c);
      ck_assert_msg(listed == (nv > 0), "%s: block (%lld, %lld): %s with %lld visible pairs", what,
                    (long long)qb, (long long)kb, listed ? "listed" : "not listed", (long long)nv);
      ck_assert_msg(!full || nv == (q1 - q0) * (k1 - k0),
                    "%s: block (%lld, %lld) is full with %lld of %lld pairs visible", what,
                    (long long)qb, (long long)kb, (long long)nv, (long long)((q1 - q0) * (k1 - k0)));
    }
    ck_assert_msg(c.block < 0, "%s: row %lld lists blocks past the keys or out of order", what,
                  (long long)qb);
  }
}

/* Rows of head 0 the bitmaps give (the rest merge). */
static int64_t rows_from_bitmaps(const sparsa_pattern *p, const sp_tiling *t) {
  sp_span_prep *prep = NULL;
  ck_assert_int_eq(sp_span_prep_create(p, t, &prep), SPARSA_OK);
  int64_t rows = 0;
  if (prep->vslash_rows != NULL)
    for (int64_t qb = 0; qb < t->num_q_blocks; qb++)
      rows += sp_vslash_rows_bound(prep->vslash_rows, t, qb) >= 0;
  sp_span_prep_free(prep);
  return rows;
}

enum { MAX_HEADS = 3, LIST_CAP = 4000 };

START_TEST(bitmaps_match_merge_and_rule) {
  const char *cases_env = getenv("SPARSA_TEST_CASES");
  const int full_run = cases_env == NULL || *cases_env == '\0';
  int num_cases = full_run ? 2000 : atoi(cases_env);
  uint64_t seed = test_seed();
  printf("vslash_rows: seed %" PRIu64 " (SPARSA_TEST_SEED=%" PRIu64 " replays it)\n", seed, seed);
  uint64_t rng = seed;
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  int64_t *cols = malloc(LIST_CAP * sizeof *cols), *offs = malloc(LIST_CAP * sizeof *offs);
  int64_t bitmap_rows = 0, merged_rows = 0, brute_cases = 0, pairs = 0;
  for (int n = 0; n < num_cases; n++) {
    int64_t q_len = ref_rng_range(&rng, 1, 1200);
    int64_t kv_len = ref_rng_range(&rng, 0, 2) ? q_len : ref_rng_range(&rng, 1, 1200);
    int32_t block_kv = 16 << ref_rng_range(&rng, 0, 3);
    /* Mostly query blocks of whole key blocks, where the bitmaps apply. */
    int32_t block_q = ref_rng_range(&rng, 0, 4) ? block_kv << ref_rng_range(&rng, 0, 2)
                                                : 16 << ref_rng_range(&rng, 0, 3);
    if (block_q > 256) block_q = 256; /* the largest a mask takes */
    if (ref_rng_range(&rng, 0, 2) == 0) { /* lengths on the grid */
      q_len = (q_len + block_q - 1) / block_q * block_q;
      kv_len = (kv_len + block_kv - 1) / block_kv * block_kv;
    }
    int top_left = (int)ref_rng_range(&rng, 0, 1);
    int32_t heads = (int32_t)ref_rng_range(&rng, 1, MAX_HEADS);
    sparsa_pattern *lib[MAX_HEADS];
    ref_pattern *ref0 = NULL;
    int64_t nc0 = 0, no0 = 0;
    int64_t *cols0 = malloc(LIST_CAP * sizeof *cols0), *offs0 = malloc(LIST_CAP * sizeof *offs0);
    for (int32_t h = 0; h < heads; h++) {
      int64_t nc = random_list(&rng, kv_len, block_kv, cols, LIST_CAP);
      int64_t no = random_list(&rng, q_len + kv_len, block_q, offs, LIST_CAP);
      ck_assert_int_eq(sparsa_pattern_create_vertical_slash(cols, nc, offs, no, &lib[h]), SPARSA_OK);
      if (h == 0) {
        memcpy(cols0, cols, (size_t)nc * sizeof *cols);
        memcpy(offs0, offs, (size_t)no * sizeof *offs);
        nc0 = nc;
        no0 = no;
        ref0 = ref_pattern_vertical_slash(cols, nc, offs, no);
      }
    }
    sp_geom g = sp_geom_make(q_len, kv_len, top_left ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT);
    char what[300];
    snprintf(what, sizeof what,
             "seed %" PRIu64 " case %d: %d heads, head 0 %lld columns %lld offsets, q %lld kv %lld "
             "blocks %dx%d %s", seed, n, (int)heads, (long long)nc0, (long long)no0, (long long)q_len,
             (long long)kv_len, (int)block_q, (int)block_kv, top_left ? "top-left" : "bottom-right");
    const sparsa_pattern *of_head[MAX_HEADS] = {lib[0], heads > 1 ? lib[1] : NULL, heads > 2 ? lib[2] : NULL};
    sp_block_list fast, merged;
    ck_assert_msg(sp_block_list_build(of_head, heads, &g, block_q, block_kv, &fast) == SPARSA_OK,
                  "%s: %s", what, sparsa_last_error());
    ck_assert_msg(sp_block_list_build_direct(of_head, heads, &g, block_q, block_kv, &merged) == SPARSA_OK,
                  "%s: %s", what, sparsa_last_error());
    list_compare_runs(&fast, &merged, what, "from the bitmaps", "from the merge");
    sp_tiling t = sp_tiling_make(&g, block_q, block_kv);
    int64_t from_bitmaps = rows_from_bitmaps(lib[0], &t);
    bitmap_rows += from_bitmaps;
    merged_rows += t.num_q_blocks - from_bitmaps;
    if (n % 2 == 0) {
      /* The rule, token by token; the reference's rule agrees with it. */
      brute b = {q_len, kv_len, g.off, calloc((size_t)kv_len, 1), calloc((size_t)(q_len + kv_len), 1)};
      for (int64_t k = 0; k < nc0; k++)
        if (cols0[k] < kv_len) b.col[cols0[k]] = 1;
      for (int64_t k = 0; k < no0; k++)
        if (offs0[k] < q_len + kv_len) b.diag[offs0[k]] = 1;
      for (int s = 0; s < 50; s++) {
        int64_t i = ref_rng_range(&rng, 0, q_len - 1), j = ref_rng_range(&rng, 0, kv_len - 1);
        ck_assert_msg(brute_visible(&b, i, j) == ref_visible(ref0, q_len, kv_len, top_left, i, j),
                      "%s: the brute force and the reference disagree at (%lld, %lld)", what,
                      (long long)i, (long long)j);
      }
      check_brute(&fast, &b, what);
      free(b.col);
      free(b.diag);
      brute_cases++;
    }
    if (n % 8 == 0 && q_len <= 400 && kv_len <= 400) {
      /* Everything the library derives from the mask, on small shapes. */
      mask_case c = {q_len, kv_len, block_q, block_kv, top_left};
      char msg[1024];
      int failures = mask_check(ctx, ref0, &c, msg, sizeof msg, &pairs);
      ck_assert_msg(failures == 0, "%s: %d failures; first: %s", what, failures, msg);
    }
    sp_block_list_free(&fast);
    sp_block_list_free(&merged);
    for (int32_t h = 0; h < heads; h++) sparsa_pattern_destroy(lib[h]);
    ref_pattern_free(ref0);
    free(cols0);
    free(offs0);
  }
  printf("vslash_rows: %d cases (%lld against the rule), %lld rows from the bitmaps, %lld merged\n",
         num_cases, (long long)brute_cases, (long long)bitmap_rows, (long long)merged_rows);
  if (full_run) {
    ck_assert_int_gt(bitmap_rows, 0);
    ck_assert_int_gt(merged_rows, 0);
  }
  free(cols);
  free(offs);
  sparsa_context_destroy(ctx);
}
END_TEST

/* The benchmark's shape, scaled down: long random lists over many blocks,
 * every row from the bitmaps; and lists too short for them over many key
 * blocks, where every row merges. */
START_TEST(long_and_short_lists) {
  uint64_t rng = 0x7e57;
  for (int variant = 0; variant < 2; variant++) {
    int64_t q_len = variant == 0 ? 8192 : 96, kv_len = variant == 0 ? 8192 : 65536;
    int64_t nc = variant == 0 ? 1000 : 1, no = variant == 0 ? 1000 : 1;
    int64_t *cols = malloc((size_t)nc * sizeof *cols), *offs = malloc((size_t)no * sizeof *offs);
    for (int64_t k = 0; k < nc; k++) cols[k] = ref_rng_range(&rng, 0, kv_len - 1);
    for (int64_t k = 0; k < no; k++) offs[k] = k < 64 && variant == 0 ? k : ref_rng_range(&rng, 0, kv_len - 1);
    sparsa_pattern *p;
    ck_assert_int_eq(sparsa_pattern_create_vertical_slash(cols, nc, offs, no, &p), SPARSA_OK);
    for (int top_left = 0; top_left < 2; top_left++) {
      sp_geom g = sp_geom_make(q_len, kv_len, top_left ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT);
      sp_tiling t = sp_tiling_make(&g, 64, 64);
      int64_t rows = rows_from_bitmaps(p, &t);
      ck_assert_int_eq(rows, variant == 0 ? t.num_q_blocks : 0);
      const sparsa_pattern *heads[1] = {p};
      sp_block_list fast, merged;
      ck_assert_int_eq(sp_block_list_build(heads, 1, &g, 64, 64, &fast), SPARSA_OK);
      ck_assert_int_eq(sp_block_list_build_direct(heads, 1, &g, 64, 64, &merged), SPARSA_OK);
      list_compare_runs(&fast, &merged, variant == 0 ? "1000 columns and diagonals" : "one of each",
                        "from the bitmaps", "from the merge");
      if (variant == 1) {
        brute b = {q_len, kv_len, g.off, calloc((size_t)kv_len, 1), calloc((size_t)(q_len + kv_len), 1)};
        b.col[cols[0]] = 1;
        b.diag[offs[0]] = 1;
        check_brute(&fast, &b, "one column, one diagonal, 65536 keys");
        free(b.col);
        free(b.diag);
      }
      sp_block_list_free(&fast);
      sp_block_list_free(&merged);
    }
    sparsa_pattern_destroy(p);
    free(cols);
    free(offs);
  }
}
END_TEST

/* A query block shorter than a block (so its clusters of diagonals are
 * checked block by block) where a cluster lies between two bands: the
 * later band's edge once overlapped the earlier one's, listing a key block
 * twice. */
START_TEST(cluster_between_bands) {
  int64_t offs[200], no = 0;
  for (int64_t d = 800; d <= 917; d++) offs[no++] = d;
  offs[no++] = 923;
  offs[no++] = 928;
  for (int64_t d = 940; d <= 1000; d++) offs[no++] = d;
  sparsa_pattern *p;
  ck_assert_int_eq(sparsa_pattern_create_vertical_slash(NULL, 0, offs, no, &p), SPARSA_OK);
  const int64_t q_len = 1023, kv_len = 1023;
  sp_geom g = sp_geom_make(q_len, kv_len, SPARSA_ALIGN_TOP_LEFT);
  const sparsa_pattern *heads[1] = {p};
  sp_block_list l;
  ck_assert_int_eq(sp_block_list_build(heads, 1, &g, 16, 16, &l), SPARSA_OK);
  brute b = {q_len, kv_len, g.off, calloc((size_t)kv_len, 1), calloc((size_t)(q_len + kv_len), 1)};
  for (int64_t k = 0; k < no; k++) b.diag[offs[k]] = 1;
  check_brute(&l, &b, "a cluster between two bands");
  free(b.col);
  free(b.diag);
  sp_block_list_free(&l);
  sparsa_pattern_destroy(p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("vslash_rows");
  TCase *tc = tcase_create("vslash_rows");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, bitmaps_match_merge_and_rule);
  tcase_add_test(tc, long_and_short_lists);
  tcase_add_test(tc, cluster_between_bands);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
