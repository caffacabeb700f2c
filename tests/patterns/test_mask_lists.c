/* Masks made from an engine's block lists (core/mask_lists.c), as a
 * device estimate makes them: against the mask sparsa_mask_create makes
 * from the patterns the same selection describes (its blocks, intersected
 * with causal), every public query answers the same (info, block counts,
 * densities, exact token densities, the BSR export), the block lists hold
 * the same blocks of the same classes, and a plan of each computes the
 * same output on the CPU engine. The lists mask holds the lists until its
 * block lists are asked for, and derives its patterns on first request:
 * the queries ask first in one case, the plan in the other; a third of
 * the cases hand no classes (the causal rule gives them, as a device
 * estimate leaves them). Lists the core cannot accept fail every reader
 * with a status, leaking nothing.
 *
 * Random geometries: q_len != kv_len, lengths off the block grid, causal
 * or not, every listed block admissible (seen by the row's last query),
 * rows listing none. The seed is printed; SPARSA_TEST_SEED replays a run,
 * SPARSA_TEST_CASES changes the number of cases. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "common/test_main.h"
#include "list_compare.h"
#include "mask.h"
#include "reference/ref_membership.h"

static uint64_t test_seed(void) {
  const char *env = getenv("SPARSA_TEST_SEED");
  if (env != NULL && *env) return strtoull(env, NULL, 0);
  return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
}

typedef struct lists_case {
  int32_t heads;
  int64_t q_len, kv_len;
  int32_t block_q, block_kv;
  int causal;
} lists_case;

static int64_t num_q_blocks(const lists_case *c) { return (c->q_len + c->block_q - 1) / c->block_q; }
static int64_t num_kv_blocks(const lists_case *c) {
  return (c->kv_len + c->block_kv - 1) / c->block_kv;
}

/* Random per-block lists (allocated with sp_malloc, as an engine's are),
 * each listed block admissible, classes as a device estimate writes them. */
static sp_block_csr random_lists(uint64_t *rng, const lists_case *c) {
  const int64_t nqb = num_q_blocks(c), nkb = num_kv_blocks(c), rows = c->heads * nqb;
  const int64_t off = c->kv_len - c->q_len;
  sp_block_csr l;
  l.row_ptr = sp_malloc((size_t)(rows + 1) * sizeof *l.row_ptr);
  l.col = sp_malloc((size_t)(rows * nkb + 1) * sizeof *l.col);
  l.full = sp_malloc((size_t)(rows * nkb + 1));
  ck_assert(l.row_ptr != NULL && l.col != NULL && l.full != NULL);
  int64_t n = 0;
  l.row_ptr[0] = 0;
  for (int64_t row = 0; row < rows; row++) {
    const int64_t qb = row % nqb;
    int64_t last_query = (qb + 1) * c->block_q - 1;
    if (last_query > c->q_len - 1) last_query = c->q_len - 1;
    int64_t admissible = nkb;
    if (c->causal) {
      admissible = last_query + off < 0 ? 0 : (last_query + off) / c->block_kv + 1;
      if (admissible > nkb) admissible = nkb;
    }
    const int64_t keep = ref_rng_range(rng, 0, 9); /* 0: none, 9: all, else a share */
    for (int64_t b = 0; b < admissible; b++) {
      if (keep == 0 || (keep < 9 && ref_rng_range(rng, 0, 8) >= keep)) continue;
      int64_t last_key = (b + 1) * c->block_kv - 1;
      if (last_key > c->kv_len - 1) last_key = c->kv_len - 1;
      l.col[n] = (int32_t)b;
      l.full[n] = !c->causal || last_key <= qb * c->block_q + off;
      n++;
    }
    l.row_ptr[row + 1] = n;
  }
  return l;
}

/* The patterns the same lists describe, one per head. */
static sparsa_pattern **lists_patterns(const lists_case *c, const sp_block_csr *l) {
  const int64_t nqb = num_q_blocks(c);
  sparsa_pattern **p = calloc((size_t)c->heads, sizeof *p);
  int64_t *rp = malloc((size_t)(nqb + 1) * sizeof *rp);
  ck_assert(p != NULL && rp != NULL);
  sparsa_pattern *causal = NULL;
  ck_assert_int_eq(sparsa_pattern_create_causal(&causal), SPARSA_OK);
  for (int32_t h = 0; h < c->heads; h++) {
    const int64_t base = l->row_ptr[h * nqb];
    for (int64_t r = 0; r <= nqb; r++) rp[r] = l->row_ptr[h * nqb + r] - base;
    sparsa_pattern *blocks = NULL;
    ck_assert_int_eq(sparsa_pattern_create_blocks_bsr(c->block_q, c->block_kv, nqb, rp,
                                                      l->col + base, &blocks),
                     SPARSA_OK);
    if (!c->causal) {
      p[h] = blocks;
      continue;
    }
    const sparsa_pattern *parts[2] = {blocks, causal};
    ck_assert_int_eq(sparsa_pattern_create_intersection(parts, 2, &p[h]), SPARSA_OK);
    sparsa_pattern_destroy(blocks);
  }
  sparsa_pattern_destroy(causal);
  free(rp);
  return p;
}

static sparsa_mask *mask_from_lists(sparsa_context *ctx, const lists_case *c, sp_block_csr *l) {
  sp_mask_lists_desc d = {c->heads, c->q_len, c->kv_len, c->block_q, c->block_kv, c->causal};
  sparsa_mask *m = NULL;
  ck_assert_int_eq(sp_mask_lists_begin(ctx, &d, &m), SPARSA_OK);
  sp_mask_lists_hold(m, l);
  return m;
}

static void compare_queries(const sparsa_mask *a, const sparsa_mask *b, const lists_case *c,
                            const char *what) {
  sparsa_mask_info ia, ib;
  memset(&ia, 0, sizeof ia);
  memset(&ib, 0, sizeof ib);
  ia.struct_size = ib.struct_size = (uint32_t)sizeof ia;
  ck_assert_int_eq(sparsa_mask_get_info(a, &ia), SPARSA_OK);
  ck_assert_int_eq(sparsa_mask_get_info(b, &ib), SPARSA_OK);
  ck_assert_msg(memcmp(&ia, &ib, sizeof ia) == 0, "%s: mask info differs", what);
  const int64_t nqb = num_q_blocks(c), cap = nqb * num_kv_blocks(c) + 1;
  int64_t *rpa = malloc((size_t)(nqb + 1) * 8), *rpb = malloc((size_t)(nqb + 1) * 8);
  int32_t *ca = malloc((size_t)cap * 4), *cb = malloc((size_t)cap * 4);
  uint8_t *fa = malloc((size_t)cap), *fb = malloc((size_t)cap);
  ck_assert(rpa && rpb && ca && cb && fa && fb);
  for (int32_t h = -1; h < c->heads; h++) {
    double da = -1, db = -2, ta = -1, tb = -2;
    ck_assert_int_eq(sparsa_mask_density(a, h, &da), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_density(b, h, &db), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_token_density(a, h, &ta), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_token_density(b, h, &tb), SPARSA_OK);
    ck_assert_msg(da == db && ta == tb, "%s: head %d: densities %.9f/%.9f against %.9f/%.9f",
                  what, (int)h, da, ta, db, tb);
    if (h < 0) continue;
    int64_t full_a = -1, part_a = -1, full_b = -2, part_b = -2, na = -1, nb = -2;
    ck_assert_int_eq(sparsa_mask_block_counts(a, h, &full_a, &part_a), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_block_counts(b, h, &full_b, &part_b), SPARSA_OK);
    ck_assert_msg(full_a == full_b && part_a == part_b, "%s: head %d: block counts", what, (int)h);
    ck_assert_int_eq(sparsa_mask_export_bsr(a, h, rpa, ca, fa, cap, &na), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_export_bsr(b, h, rpb, cb, fb, cap, &nb), SPARSA_OK);
    ck_assert_msg(na == nb && memcmp(rpa, rpb, (size_t)(nqb + 1) * 8) == 0 &&
                      memcmp(ca, cb, (size_t)na * 4) == 0 && memcmp(fa, fb, (size_t)na) == 0,
                  "%s: head %d: exported lists differ", what, (int)h);
  }
  free(rpa);
  free(rpb);
  free(ca);
  free(cb);
  free(fa);
  free(fb);
}

/* Both masks' plans on the CPU engine: the same output, bit for bit. */
static void compare_outputs(sparsa_context *ctx, const sparsa_mask *a, const sparsa_mask *b,
                            const lists_case *c, uint64_t *rng, const char *what) {
  const int32_t d = 16;
  sparsa_problem p;
  sparsa_problem_init(&p);
  p.dtype = SPARSA_DTYPE_F32;
  p.batch = 1;
  p.q_heads = p.kv_heads = c->heads;
  p.head_dim = d;
  p.q_len = c->q_len;
  p.kv_len = c->kv_len;
  const size_t nq = (size_t)c->q_len * c->heads * d, nk = (size_t)c->kv_len * c->heads * d;
  float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4);
  float *oa = malloc(nq * 4), *ob = malloc(nq * 4);
  ck_assert(q && k && v && oa && ob);
  for (size_t i = 0; i < nq; i++) q[i] = (float)ref_rng_range(rng, -64, 64) / 64.0f;
  for (size_t i = 0; i < nk; i++) k[i] = (float)ref_rng_range(rng, -64, 64) / 64.0f;
  for (size_t i = 0; i < nk; i++) v[i] = (float)ref_rng_range(rng, -64, 64) / 64.0f;
  sparsa_plan *pa = NULL, *pb = NULL;
  ck_assert_msg(sparsa_plan_create(ctx, &p, a, &pa) == SPARSA_OK, "%s: %s", what,
                sparsa_last_error());
  ck_assert_int_eq(sparsa_plan_create(ctx, &p, b, &pb), SPARSA_OK);
  ck_assert_int_eq(sparsa_execute(pa, q, k, v, oa, NULL, NULL, 0), SPARSA_OK);
  ck_assert_int_eq(sparsa_execute(pb, q, k, v, ob, NULL, NULL, 0), SPARSA_OK);
  ck_assert_msg(memcmp(oa, ob, nq * 4) == 0, "%s: outputs differ", what);
  sparsa_plan_destroy(pa);
  sparsa_plan_destroy(pb);
  free(q);
  free(k);
  free(v);
  free(oa);
  free(ob);
}

START_TEST(lists_mask_matches_patterns_mask) {
  const char *cases_env = getenv("SPARSA_TEST_CASES");
  int num_cases = cases_env != NULL && *cases_env ? atoi(cases_env) : 300;
  uint64_t seed = test_seed();
  printf("mask_lists: seed %" PRIu64 " (SPARSA_TEST_SEED=%" PRIu64 " replays it)\n", seed, seed);
  uint64_t rng = seed;
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  int64_t partial = 0, full = 0;
  for (int n = 0; n < num_cases; n++) {
    lists_case c;
    c.heads = (int32_t)ref_rng_range(&rng, 1, 4);
    c.q_len = ref_rng_range(&rng, 1, 700);
    c.kv_len = ref_rng_range(&rng, 0, 2) ? c.q_len : ref_rng_range(&rng, 1, 700);
    c.block_q = 16 << ref_rng_range(&rng, 0, 3);
    c.block_kv = 16 << ref_rng_range(&rng, 0, 3);
    c.causal = (int)ref_rng_range(&rng, 0, 3) > 0;
    char what[200];
    snprintf(what, sizeof what, "seed %" PRIu64 " case %d: %d heads, q %lld kv %lld, %dx%d%s", seed,
             n, (int)c.heads, (long long)c.q_len, (long long)c.kv_len, (int)c.block_q,
             (int)c.block_kv, c.causal ? ", causal" : "");
    sp_block_csr l = random_lists(&rng, &c);
    sparsa_pattern **pats = lists_patterns(&c, &l);
    if (n % 3 == 0) { /* the classes from the causal rule, as a device estimate hands them */
      sp_free(l.full);
      l.full = NULL;
    }
    sparsa_mask_desc desc;
    sparsa_mask_desc_init(&desc);
    desc.num_heads = c.heads;
    desc.q_len = c.q_len;
    desc.kv_len = c.kv_len;
    desc.block_q = c.block_q;
    desc.block_kv = c.block_kv;
    desc.patterns = (const sparsa_pattern *const *)pats;
    sparsa_mask *ref = NULL;
    ck_assert_msg(sparsa_mask_create(ctx, &desc, &ref) == SPARSA_OK, "%s: %s", what,
                  sparsa_last_error());
    sparsa_mask *m = mask_from_lists(ctx, &c, &l);
    ck_assert_ptr_null(l.row_ptr); /* taken */
    ck_assert_ptr_null(m->patterns);
    ck_assert_ptr_null(m->blocks.row_ptr); /* held until asked for */
    /* Half the cases plan before anything reads the lists or derives the
     * patterns; the others query first. */
    if (n % 2) compare_outputs(ctx, m, ref, &c, &rng, what);
    compare_queries(m, ref, &c, what);
    if (n % 2 == 0) compare_outputs(ctx, m, ref, &c, &rng, what);
    const sp_block_list *read = NULL;
    ck_assert_int_eq(sp_mask_block_list(m, &read), SPARSA_OK);
    ck_assert_ptr_eq(read, &m->blocks);
    ck_assert_ptr_null(m->held.col);
    list_compare_blocks(&m->blocks, &ref->blocks, what, "from the lists", "from the patterns");
    full += m->blocks.num_full;
    partial += m->blocks.num_partial;
    sparsa_mask_destroy(m);
    sparsa_mask_destroy(ref);
    for (int32_t h = 0; h < c.heads; h++) sparsa_pattern_destroy(pats[h]);
    free(pats);
  }
  printf("mask_lists: %d cases, %lld full and %lld partial blocks\n", num_cases, (long long)full,
         (long long)partial);
  ck_assert_int_gt(full, 0);
  ck_assert_int_gt(partial, 0);
  sparsa_context_destroy(ctx);
}
END_TEST

/* Lists out of order or past the key blocks: every reader of the mask's
 * lists gets a status, not a crash; the mask and the lists are freed (the
 * sanitizer builds check leaks). */
START_TEST(bad_lists_fail) {
  sparsa_context *ctx = NULL;
  ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK);
  const lists_case c = {1, 64, 64, 32, 32, 0};
  for (int bad = 0; bad < 3; bad++) {
    sp_block_csr l;
    l.row_ptr = sp_malloc(3 * sizeof *l.row_ptr);
    l.col = sp_malloc(2 * sizeof *l.col);
    l.full = sp_malloc(2);
    ck_assert(l.row_ptr && l.col && l.full);
    l.row_ptr[0] = 0;
    l.row_ptr[1] = 2;
    l.row_ptr[2] = 2;
    l.col[0] = bad == 0 ? 1 : 0;
    l.col[1] = bad == 0 ? 0 : bad == 1 ? 2 : 0; /* descending, past the end, repeated */
    l.full[0] = l.full[1] = 1;
    sp_mask_lists_desc d = {c.heads, c.q_len, c.kv_len, c.block_q, c.block_kv, c.causal};
    sparsa_mask *m = NULL;
    ck_assert_int_eq(sp_mask_lists_begin(ctx, &d, &m), SPARSA_OK);
    sp_mask_lists_hold(m, &l);
    ck_assert_ptr_null(l.col);
    /* Every reader fails the same way, and again when asked again. */
    for (int again = 0; again < 2; again++) {
      sparsa_mask_info info;
      memset(&info, 0, sizeof info);
      info.struct_size = (uint32_t)sizeof info;
      double density = 0;
      int64_t blocks = 0;
      sparsa_plan *plan = NULL;
      sparsa_problem p;
      sparsa_problem_init(&p);
      p.dtype = SPARSA_DTYPE_F32;
      p.batch = 1;
      p.q_heads = p.kv_heads = c.heads;
      p.head_dim = 16;
      p.q_len = c.q_len;
      p.kv_len = c.kv_len;
      ck_assert_int_eq(sparsa_mask_get_info(m, &info), SPARSA_ERR_INTERNAL);
      ck_assert_int_eq(sparsa_mask_density(m, 0, &density), SPARSA_ERR_INTERNAL);
      ck_assert_int_eq(sparsa_mask_token_density(m, 0, &density), SPARSA_ERR_INTERNAL);
      ck_assert_int_eq(sparsa_mask_export_bsr(m, 0, NULL, NULL, NULL, 0, &blocks),
                       SPARSA_ERR_INTERNAL);
      ck_assert_int_eq(sparsa_plan_create(ctx, &p, m, &plan), SPARSA_ERR_INTERNAL);
      ck_assert_ptr_null(plan);
    }
    sp_mask_release(m); /* frees the held lists */
  }
  /* Lists an engine kept on its side, on an engine that cannot read them
   * back (the CPU's keeps none): a status, not a crash. */
  sp_mask_lists_desc d = {c.heads, c.q_len, c.kv_len, c.block_q, c.block_kv, c.causal};
  sparsa_mask *m = NULL;
  ck_assert_int_eq(sp_mask_lists_begin(ctx, &d, &m), SPARSA_OK);
  sp_block_csr kept = {NULL, NULL, NULL};
  sp_mask_lists_hold(m, &kept);
  double density = 0;
  ck_assert_int_eq(sparsa_mask_density(m, -1, &density), SPARSA_ERR_INTERNAL);
  sp_mask_release(m);
  sparsa_context_destroy(ctx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("mask_lists");
  TCase *tc = tcase_create("mask_lists");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, lists_mask_matches_patterns_mask);
  tcase_add_test(tc, bad_lists_fail);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
