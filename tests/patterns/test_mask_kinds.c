/* Every kind, both alignments, odd lengths (q_len != kv_len both ways,
 * lengths around block boundaries) and several block shapes, checked pair
 * by pair against the reference. Under a SPARSA_TEST_CASES budget (the
 * sanitizer and valgrind jobs) every test and every kind still runs, on a
 * spread subset of its shapes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_cases.h"
#include "common/test_main.h"
#include "mask_check.h"
#include "pattern.h"
#include "pattern_flat.h"
#include "reference/ref_membership.h"

enum { NUM_KINDS = 22 };

static const int32_t block_shapes[][2] = {{16, 16}, {64, 64}, {32, 128}, {256, 16},
                                          {128, 256}, {16, 64}, {64, 32}};
enum { NUM_BLOCK_SHAPES = sizeof block_shapes / sizeof block_shapes[0] };

/* Pattern number k, with lists placed relative to the lengths. */
static ref_pattern *make_kind(int k, int64_t q, int64_t kv) {
  switch (k) {
    case 0: return ref_pattern_dense();
    case 1: return ref_pattern_none();
    case 2: return ref_pattern_causal();
    case 3: return ref_pattern_window(31, 0);
    case 4: return ref_pattern_window(5, 40);
    case 5: return ref_pattern_window(SPARSA_UNBOUNDED, 3);
    case 6: return ref_pattern_sink_window(4, 33);
    case 7: return ref_pattern_dilated(SPARSA_UNBOUNDED, 0, 3);
    case 8: return ref_pattern_dilated(70, 20, 17);
    case 9: {
      int64_t t[] = {0, 5, kv / 2, q + 3, 5};
      return ref_pattern_global(t, 5);
    }
    case 10: { /* 32 x 48 tiles, a band and a column */
      int64_t rows = (q + 31) / 32, cols = (kv - 1) / 48 + 1;
      int64_t *rp = malloc((size_t)(rows + 1) * sizeof *rp);
      int32_t *ci = malloc((size_t)(rows * 3 + 1) * sizeof *ci);
      int64_t n = 0;
      rp[0] = 0;
      for (int64_t r = 0; r < rows; r++) {
        int64_t c = (r * 32) * cols / (q + 1);
        if (c < cols) ci[n++] = (int32_t)c;
        if (c + 1 < cols) ci[n++] = (int32_t)(c + 1);
        ci[n++] = 0;
        rp[r + 1] = n;
      }
      ref_pattern *p = ref_pattern_blocks_bsr(32, 48, rows, rp, ci);
      free(rp);
      free(ci);
      return p;
    }
    case 11: { /* 16 x 16 bitmap, checkerboard-ish */
      int64_t rows = (q + 15) / 16, cols = (kv - 1) / 16 + 1;
      uint8_t *bm = malloc((size_t)(rows * cols));
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) bm[r * cols + c] = ((r * 7 + c * 3) % 5) < 2;
      ref_pattern *p = ref_pattern_blocks_bitmap(16, 16, rows, cols, bm);
      free(bm);
      return p;
    }
    case 12: {
      int64_t cols[] = {0, 7, kv - 1}, offs[] = {0, 3, 64, 100};
      return ref_pattern_vertical_slash(cols, 3, offs, 4);
    }
    case 13: return ref_pattern_radial(16, 4, SPARSA_UNBOUNDED);
    case 14: return ref_pattern_power(8);
    case 15: {
      int64_t t[] = {1, kv - 1};
      ref_pattern *parts[2] = {ref_pattern_sink_window(2, 20), ref_pattern_global(t, 2)};
      return ref_pattern_union(parts, 2);
    }
    case 16: {
      int64_t t[] = {3, 40, 41, 42};
      ref_pattern *parts[2] = {ref_pattern_global(t, 4), ref_pattern_causal()};
      return ref_pattern_intersection(parts, 2);
    }
    case 17: {
      ref_pattern *inner[2] = {ref_pattern_dilated(SPARSA_UNBOUNDED, SPARSA_UNBOUNDED, 5),
                               ref_pattern_causal()};
      ref_pattern *parts[2] = {ref_pattern_window(3, 0), ref_pattern_intersection(inner, 2)};
      return ref_pattern_union(parts, 2);
    }
    case 18: { /* 64 x 64 tiles, dense lower band: full blocks at matching mask blocks */
      int64_t rows = (q + 63) / 64, cols = (kv - 1) / 64 + 1;
      uint8_t *bm = malloc((size_t)(rows * cols));
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) bm[r * cols + c] = c <= r && c + 3 >= r;
      ref_pattern *p = ref_pattern_blocks_bitmap(64, 64, rows, cols, bm);
      free(bm);
      return p;
    }
    case 19: { /* dense offset runs (bands), clusters, and a run of columns */
      int64_t offs[80], cols[40];
      int n = 0, m = 0;
      for (int64_t d = 0; d < 50; d++) offs[n++] = d;
      for (int64_t d = 90; d < 100; d += 3) offs[n++] = d;
      offs[n++] = 400;
      for (int64_t c = 32; c < 64 && c < kv; c++) cols[m++] = c;
      cols[m++] = kv / 2;
      return ref_pattern_vertical_slash(cols, m, offs, n);
    }
    case 20: { /* global tokens filling whole key blocks */
      int64_t t[40];
      int n = 0;
      for (int64_t c = 16; c < 48; c++) t[n++] = c;
      t[n++] = kv - 1;
      return ref_pattern_global(t, n);
    }
    default: return ref_pattern_radial(7, 3, 2);
  }
}

static sparsa_context *ctx;

static void setup(void) { ck_assert_int_eq(sparsa_context_create(SPARSA_ENGINE_CPU, 0, &ctx), SPARSA_OK); }
static void teardown(void) { sparsa_context_destroy(ctx); }

static void run_case(const ref_pattern *p, const mask_case *c, int64_t *pairs) {
  char msg[1024];
  int failures = mask_check(ctx, p, c, msg, sizeof msg, pairs);
  ck_assert_msg(failures == 0, "%d failures; first: %s", failures, msg);
}

static const int64_t small_lengths[] = {1, 17, 63, 64, 65, 127, 129};
enum { NUM_SMALL = sizeof small_lengths / sizeof small_lengths[0] };

/* Relative costs of one case in SPARSA_TEST_CASES units (one random
 * execute configuration): a ~1024 x 1024 case checks a million pairs. */
enum { SMALL_CASE_COST = 1, LARGE_CASE_COST = 12, GRID_CASE_COST = 12 };

/* One test per kind over every small length pair, both alignments, block
 * shapes rotating with the pair. */
START_TEST(kind_small_shapes) {
  int k = _i;
  enum { FULL = NUM_SMALL * NUM_SMALL * 2 };
  int64_t pairs = 0, n = test_cases(FULL, SMALL_CASE_COST);
  for (int64_t i = 0; i < n; i++) {
    /* A reduced run starts each kind elsewhere in the list. */
    int64_t x = (test_cases_pick(i, n, FULL) + (n < FULL ? k : 0)) % FULL;
    int a = (int)(x / (2 * NUM_SMALL)), b = (int)(x / 2 % NUM_SMALL), tl = (int)(x % 2);
    mask_case c = {small_lengths[a], small_lengths[b], 0, 0, tl};
    const int32_t *bs = block_shapes[(a * NUM_SMALL + b + tl + k) % NUM_BLOCK_SHAPES];
    c.block_q = bs[0];
    c.block_kv = bs[1];
    ref_pattern *p = make_kind(k, c.q_len, c.kv_len);
    run_case(p, &c, &pairs);
    ref_pattern_free(p);
  }
  printf("kind %d: %lld of %d cases, %lld pairs\n", k, (long long)n, FULL, (long long)pairs);
}
END_TEST

/* Long sequences: 1023 x 1025, 1025 x 1023 and 1024 x 1024, both
 * alignments (a reduced run: as many as the budget allows, the kinds
 * taking turns over the six). */
START_TEST(kind_large_shapes) {
  int k = _i;
  static const int64_t shapes[][2] = {{1023, 1025}, {1025, 1023}, {1024, 1024}};
  enum { FULL = 3 * 2 };
  int64_t pairs = 0, n = test_cases(FULL, LARGE_CASE_COST);
  for (int64_t i = 0; i < n; i++) {
    int64_t x = (test_cases_pick(i, n, FULL) + (n < FULL ? k : 0)) % FULL;
    int s = (int)(x / 2), tl = (int)(x % 2);
    const int32_t *bs = block_shapes[(s * 2 + tl + k) % NUM_BLOCK_SHAPES];
    mask_case c = {shapes[s][0], shapes[s][1], bs[0], bs[1], tl};
    ref_pattern *p = make_kind(k, c.q_len, c.kv_len);
    run_case(p, &c, &pairs);
    ref_pattern_free(p);
  }
  printf("kind %d large: %lld of %d cases, %lld pairs\n", k, (long long)n, FULL, (long long)pairs);
}
END_TEST

/* Neighborhoods on grids matching the lengths, 1-D to 3-D, with dilation
 * and causal axes. */
START_TEST(neighborhood_grids) {
  static const struct {
    int dims;
    int64_t e[3], k[3], g[3];
    int c[3];
  } grids[] = {
      {1, {129}, {7}, {1}, {0}},
      {1, {129}, {7}, {3}, {1}},
      {1, {64}, {64}, {1}, {0}},
      {1, {65}, {100}, {2}, {0}},
      {2, {8, 16}, {3, 5}, {1, 1}, {0, 0}},
      {2, {16, 8}, {5, 3}, {2, 2}, {1, 0}},
      {2, {17, 63}, {5, 9}, {1, 4}, {0, 1}},
      {2, {31, 33}, {31, 1}, {1, 1}, {0, 0}},
      {3, {4, 8, 32}, {3, 3, 7}, {1, 2, 1}, {1, 0, 0}},
      {3, {5, 9, 23}, {5, 3, 5}, {2, 3, 4}, {0, 1, 0}},
      {3, {1, 1, 64}, {1, 1, 9}, {1, 1, 1}, {0, 0, 1}},
  };
  /* Every grid; block shapes and alignments as the budget allows. */
  enum { FULL = (NUM_BLOCK_SHAPES + 1) / 2 * 2 };
  int64_t pairs = 0, per_grid = test_cases(FULL, GRID_CASE_COST);
  for (size_t n = 0; n < sizeof grids / sizeof grids[0]; n++) {
    sparsa_neighborhood nb = {0};
    nb.struct_size = sizeof nb;
    nb.num_dims = grids[n].dims;
    int64_t cells = 1;
    for (int a = 0; a < 3; a++) {
      nb.extent[a] = a < nb.num_dims ? grids[n].e[a] : 0;
      nb.kernel[a] = a < nb.num_dims ? grids[n].k[a] : 0;
      nb.dilation[a] = a < nb.num_dims ? grids[n].g[a] : 0;
      nb.causal[a] = grids[n].c[a];
      if (a < nb.num_dims) cells *= nb.extent[a];
    }
    for (int64_t i = 0; i < per_grid; i++) {
      int64_t x = (test_cases_pick(i, per_grid, FULL) + (per_grid < FULL ? (int64_t)n : 0)) % FULL;
      int bsi = (int)(x / 2) * 2, tl = (int)(x % 2);
      mask_case c = {cells, cells, block_shapes[bsi][0], block_shapes[bsi][1], tl};
      ref_pattern *p = ref_pattern_neighborhood(&nb);
      run_case(p, &c, &pairs);
      ref_pattern_free(p);
    }
  }
  printf("neighborhoods: %lld pairs\n", (long long)pairs);
}
END_TEST

/* Parameters at the ends of their ranges behave by the rule, without
 * overflow: unbounded extents, huge dilations, frames and lists. */
START_TEST(extreme_parameters) {
  int64_t big[] = {INT64_MAX, 3, INT64_MAX - 1};
  sparsa_neighborhood nb = {sizeof nb, 2, {9, 11, 0}, {(int64_t)1 << 50, 3, 0},
                            {(int64_t)1 << 40, 5, 0}, {0, 1, 0}, 0};
  ref_pattern *kinds[] = {
      ref_pattern_window(SPARSA_UNBOUNDED, SPARSA_UNBOUNDED),
      ref_pattern_dilated(SPARSA_UNBOUNDED, SPARSA_UNBOUNDED, INT64_MAX),
      ref_pattern_dilated(SPARSA_UNBOUNDED, 0, (int64_t)1 << 45),
      ref_pattern_sink_window(SPARSA_UNBOUNDED, SPARSA_UNBOUNDED),
      ref_pattern_sink_window(INT64_MAX - 5, 1),
      ref_pattern_power(SPARSA_UNBOUNDED),
      ref_pattern_radial(INT64_MAX, INT64_MAX, SPARSA_UNBOUNDED),
      ref_pattern_radial(5, INT64_MAX, SPARSA_UNBOUNDED),
      ref_pattern_radial(3, 0, 0),
      ref_pattern_global(big, 3),
      ref_pattern_vertical_slash(big, 3, big, 3),
      ref_pattern_neighborhood(&nb),
  };
  int64_t pairs = 0;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    for (int tl = 0; tl < 2; tl++) {
      int is_grid = kinds[k]->kind == SPARSA_PATTERN_NEIGHBORHOOD;
      mask_case c = {99, is_grid ? 99 : 130, 16, 32, tl};
      run_case(kinds[k], &c, &pairs);
      if (!is_grid) {
        mask_case r = {130, 99, 32, 16, tl};
        run_case(kinds[k], &r, &pairs);
      }
    }
    ref_pattern_free(kinds[k]);
  }
}
END_TEST

/* A mask of several heads equals the single-head masks side by side. */
START_TEST(multi_head_lists) {
  enum { H = NUM_KINDS - 1 };
  const int64_t Q = 200, K = 333;
  ref_pattern *rp[H];
  sparsa_pattern *lib[H];
  for (int h = 0; h < H; h++) {
    rp[h] = make_kind(h, Q, K);
    ck_assert_int_eq(ref_pattern_to_sparsa(rp[h], &lib[h]), SPARSA_OK);
  }
  sparsa_mask_desc d;
  sparsa_mask_desc_init(&d);
  d.num_heads = H;
  d.q_len = Q;
  d.kv_len = K;
  d.block_q = 32;
  d.block_kv = 16;
  d.patterns = (const sparsa_pattern *const *)lib;
  sparsa_mask *m = NULL;
  ck_assert_int_eq(sparsa_mask_create(ctx, &d, &m), SPARSA_OK);
  int64_t total_full = 0, total_partial = 0;
  double mean = 0;
  for (int h = 0; h < H; h++) {
    sparsa_mask_desc one = d;
    one.num_heads = 1;
    one.patterns = (const sparsa_pattern *const *)&lib[h];
    sparsa_mask *s = NULL;
    ck_assert_int_eq(sparsa_mask_create(ctx, &one, &s), SPARSA_OK);
    int64_t na = 0, nb = 0;
    ck_assert_int_eq(sparsa_mask_export_bsr(m, h, NULL, NULL, NULL, 0, &na), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_export_bsr(s, 0, NULL, NULL, NULL, 0, &nb), SPARSA_OK);
    ck_assert_int_eq(na, nb);
    int32_t *ca = malloc((size_t)(na + 1) * 4), *cb = malloc((size_t)(na + 1) * 4);
    uint8_t *fa = malloc((size_t)na + 1), *fb = malloc((size_t)na + 1);
    int64_t *rpa = malloc(8 * 8), *rpb = malloc(8 * 8);
    ck_assert_int_eq(sparsa_mask_export_bsr(m, h, rpa, ca, fa, na, &na), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_export_bsr(s, 0, rpb, cb, fb, nb, &nb), SPARSA_OK);
    for (int r = 0; r <= 7; r++) ck_assert_int_eq(rpa[r], rpb[r]);
    for (int64_t e = 0; e < na; e++) {
      ck_assert_int_eq(ca[e], cb[e]);
      ck_assert_int_eq(fa[e], fb[e]);
    }
    int64_t f = 0, p = 0;
    ck_assert_int_eq(sparsa_mask_block_counts(m, h, &f, &p), SPARSA_OK);
    total_full += f;
    total_partial += p;
    double ta = 0, tb = 0;
    ck_assert_int_eq(sparsa_mask_token_density(m, h, &ta), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_token_density(s, 0, &tb), SPARSA_OK);
    ck_assert(ta == tb);
    mean += ta / H;
    free(ca);
    free(cb);
    free(fa);
    free(fb);
    free(rpa);
    free(rpb);
    sparsa_mask_destroy(s);
  }
  sparsa_mask_info info = {.struct_size = sizeof info};
  ck_assert_int_eq(sparsa_mask_get_info(m, &info), SPARSA_OK);
  ck_assert_int_eq(info.num_heads, H);
  ck_assert_int_eq(info.num_full_blocks, total_full);
  ck_assert_int_eq(info.num_partial_blocks, total_partial);
  double all = -1;
  ck_assert_int_eq(sparsa_mask_token_density(m, -1, &all), SPARSA_OK);
  ck_assert_double_eq_tol(all, mean, 1e-12);
  /* The mask keeps its patterns: destroying ours first is fine. */
  for (int h = 0; h < H; h++) {
    sparsa_pattern_destroy(lib[h]);
    ref_pattern_free(rp[h]);
  }
  double dn = -1;
  ck_assert_int_eq(sparsa_mask_density(m, -1, &dn), SPARSA_OK);
  ck_assert(dn > 0 && dn <= 1);
  sparsa_mask_destroy(m);
}
END_TEST

/* Lengths near 2^31: the rule, tiles, classification and the flat
 * evaluator on rectangles spread over the whole range (no mask: its block
 * lists would be large), compared with the reference. */
START_TEST(huge_lengths) {
  const int64_t Q = INT32_MAX, K = INT32_MAX - 70000;
  int64_t cols[] = {0, 5, K - 3, K - 1, Q - 2}, offs[] = {0, 1, 1 << 20, Q - 10};
  sparsa_neighborhood nb = {sizeof nb, 1, {INT32_MAX}, {1001}, {3}, {0}, 0};
  ref_pattern *inner[2] = {ref_pattern_global(cols, 5), ref_pattern_causal()};
  ref_pattern *kinds[] = {
      ref_pattern_causal(),
      ref_pattern_window(SPARSA_UNBOUNDED, 5),
      ref_pattern_sink_window(100, 100000),
      ref_pattern_dilated(1 << 30, 40, 7),
      ref_pattern_global(cols, 5),
      ref_pattern_vertical_slash(cols, 5, offs, 4),
      ref_pattern_radial(1 << 20, 1 << 12, 5),
      ref_pattern_power(16),
      ref_pattern_neighborhood(&nb),
      ref_pattern_intersection(inner, 2),
  };
  uint64_t rng = 12345;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    sparsa_pattern *lib = NULL;
    ck_assert_int_eq(ref_pattern_to_sparsa(kinds[k], &lib), SPARSA_OK);
    int grid = kinds[k]->kind == SPARSA_PATTERN_NEIGHBORHOOD;
    int64_t kv = grid ? Q : K;
    sp_flat_pattern flat;
    ck_assert_int_eq(sp_pattern_flatten(lib, &flat), SPARSA_OK);
    for (int tl = 0; tl < 2; tl++) {
      sp_geom g = sp_geom_make(Q, kv, tl ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT);
      for (int t = 0; t < 60; t++) {
        int64_t q0, k0;
        switch (t % 3) { /* near the start, near the end, or near the diagonal */
          case 0: q0 = ref_rng_range(&rng, 0, 100); k0 = ref_rng_range(&rng, 0, 100); break;
          case 1: q0 = Q - ref_rng_range(&rng, 1, 100); k0 = kv - ref_rng_range(&rng, 1, 100); break;
          default:
            q0 = ref_rng_range(&rng, 0, Q - 1);
            k0 = q0 + g.off - ref_rng_range(&rng, -30, 30);
            if (k0 < 0) k0 = 0;
            if (k0 > kv - 1) k0 = kv - 1;
        }
        int64_t nq = ref_rng_range(&rng, 1, 40), nk = ref_rng_range(&rng, 1, 40);
        if (q0 + nq > Q) nq = Q - q0;
        if (k0 + nk > kv) nk = kv - k0;
        uint8_t tile[40 * 40];
        memset(tile, 0xCC, sizeof tile);
        sp_pattern_tile(lib, &g, q0, nq, k0, nk, tile, 40);
        int64_t visible = 0;
        for (int64_t r = 0; r < nq; r++)
          for (int64_t c = 0; c < nk; c++) {
            int want = ref_visible(kinds[k], Q, kv, tl, q0 + r, k0 + c);
            visible += want;
            int by_tile = tile[r * 40 + c], by_rule = sp_pattern_visible(lib, &g, q0 + r, k0 + c);
            int by_flat = sp_flat_visible(flat.nodes, flat.num_nodes, flat.data, g, q0 + r, k0 + c);
            /* Not ck_assert per pair: Check records every passing one. */
            if (by_tile != want || by_rule != want || by_flat != want)
              ck_abort_msg("kind %zu (%lld, %lld): tile %d, rule %d, flat %d, reference %d", k,
                           (long long)(q0 + r), (long long)(k0 + c), by_tile, by_rule, by_flat, want);
          }
        sp_block_class cl = sp_pattern_classify(lib, &g, q0, q0 + nq, k0, k0 + nk);
        ck_assert_msg(!(cl == SP_BLOCK_EMPTY && visible > 0) && !(cl == SP_BLOCK_FULL && visible != nq * nk),
                      "kind %zu classify %d with %lld of %lld visible", k, (int)cl, (long long)visible,
                      (long long)(nq * nk));
      }
    }
    sp_flat_pattern_free(&flat);
    sparsa_pattern_destroy(lib);
    ref_pattern_free(kinds[k]);
  }
}
END_TEST

/* Heads sharing one pattern object get copies of its rows: every head's
 * export equals its own single-head mask. */
START_TEST(repeated_head_patterns) {
  ref_pattern *ra = make_kind(12, 300, 400), *rb = make_kind(6, 300, 400);
  sparsa_pattern *a = NULL, *b = NULL;
  ck_assert_int_eq(ref_pattern_to_sparsa(ra, &a), SPARSA_OK);
  ck_assert_int_eq(ref_pattern_to_sparsa(rb, &b), SPARSA_OK);
  const sparsa_pattern *heads[6] = {a, b, a, a, b, a};
  sparsa_mask_desc d;
  sparsa_mask_desc_init(&d);
  d.num_heads = 6;
  d.q_len = 300;
  d.kv_len = 400;
  d.block_q = 32;
  d.block_kv = 64;
  d.patterns = heads;
  sparsa_mask *m = NULL, *single[2] = {NULL, NULL};
  ck_assert_int_eq(sparsa_mask_create(ctx, &d, &m), SPARSA_OK);
  d.num_heads = 1;
  for (int k = 0; k < 2; k++) {
    d.patterns = &heads[k];
    ck_assert_int_eq(sparsa_mask_create(ctx, &d, &single[k]), SPARSA_OK);
  }
  int64_t total = 0;
  for (int h = 0; h < 6; h++) {
    const sparsa_mask *s1 = single[heads[h] == a ? 0 : 1];
    int64_t n1 = -1, n2 = -2, r1[11], r2[11];
    ck_assert_int_eq(sparsa_mask_export_bsr(m, h, NULL, NULL, NULL, 0, &n1), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_export_bsr(s1, 0, NULL, NULL, NULL, 0, &n2), SPARSA_OK);
    ck_assert_int_eq(n1, n2);
    int32_t *c1 = malloc((size_t)n1 * 4 + 4), *c2 = malloc((size_t)n1 * 4 + 4);
    uint8_t *f1 = malloc((size_t)n1 + 1), *f2 = malloc((size_t)n1 + 1);
    ck_assert_int_eq(sparsa_mask_export_bsr(m, h, r1, c1, f1, n1, &n1), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_export_bsr(s1, 0, r2, c2, f2, n2, &n2), SPARSA_OK);
    for (int r = 0; r < 11; r++) ck_assert_int_eq(r1[r], r2[r]);
    ck_assert(memcmp(c1, c2, (size_t)n1 * 4) == 0);
    ck_assert(memcmp(f1, f2, (size_t)n1) == 0);
    double t1, t2;
    ck_assert_int_eq(sparsa_mask_token_density(m, h, &t1), SPARSA_OK);
    ck_assert_int_eq(sparsa_mask_token_density(s1, 0, &t2), SPARSA_OK);
    ck_assert(t1 == t2);
    total += n1;
    free(c1);
    free(c2);
    free(f1);
    free(f2);
  }
  sparsa_mask_info info = {.struct_size = sizeof info};
  ck_assert_int_eq(sparsa_mask_get_info(m, &info), SPARSA_OK);
  ck_assert_int_eq(info.num_full_blocks + info.num_partial_blocks, total);
  sparsa_mask_destroy(m);
  sparsa_mask_destroy(single[0]);
  sparsa_mask_destroy(single[1]);
  sparsa_pattern_destroy(a);
  sparsa_pattern_destroy(b);
  ref_pattern_free(ra);
  ref_pattern_free(rb);
}
END_TEST

int main(void) {
  Suite *s = suite_create("mask_kinds");
  TCase *tc = tcase_create("kinds");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, kind_small_shapes, 0, NUM_KINDS);
  tcase_add_loop_test(tc, kind_large_shapes, 0, NUM_KINDS);
  tcase_add_test(tc, neighborhood_grids);
  tcase_add_test(tc, extreme_parameters);
  tcase_add_test(tc, multi_head_lists);
  tcase_add_test(tc, repeated_head_patterns);
  tcase_add_test(tc, huge_lengths);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
