/* The estimators' selection rule (core/estimate_select.c: sp_est_select,
 * sp_est_mark_top_k and, for vertical-slash masses, sp_est_select_masses)
 * against its definition: candidates ranked by larger score, then smaller
 * index; top-k keeps the first k (all if fewer), a threshold the shortest
 * prefix whose running sum (in fixed point for masses) reaches it. Scores
 * are drawn from a few values so that ties are common, and from many so
 * that the marking's bisection runs long; rows from empty to a few
 * thousand. NaNs rank as the order keys place them: a positive NaN above
 * every number, a negative one below. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/test_cases.h"
#include "common/test_main.h"
#include "estimate.h"

static uint64_t g_state = 0x5e1ec7ull;
static int64_t draw(int64_t n) { /* in [0, n) */
  g_state = g_state * 6364136223846793005ull + 1442695040888963407ull;
  return (int64_t)((g_state >> 17) % (uint64_t)n);
}

/* A score's class: a positive NaN above the numbers, a negative one below. */
static int score_class(double v) { return v != v ? (signbit(v) ? -1 : 1) : 0; }

/* A loop's rounds: all of them, or under a case budget (the sanitizer and
 * valgrind jobs) 20 for each unit of it. */
static int rounds_of(int full) { return (int)test_cases(full / 20, 1) * 20; }

static const double *g_w;
static int by_rank(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  const int cx = score_class(g_w[x]), cy = score_class(g_w[y]);
  if (cx != cy) return cx > cy ? -1 : 1;
  if (cx == 0 && g_w[x] != g_w[y]) return g_w[x] > g_w[y] ? -1 : 1;
  return (x > y) - (x < y);
}

static int by_index(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Every candidate in rank order. */
static void rank_order(const double *w, int64_t n, int64_t *order) {
  for (int64_t c = 0; c < n; c++) order[c] = c;
  g_w = w;
  qsort(order, (size_t)n, sizeof *order, by_rank);
}

/* The chosen indices by definition: a full sort, then the rule's prefix. */
static int64_t select_by_definition(const double *w, int64_t n, sparsa_selection selection,
                                    int32_t top_k, double threshold, int64_t *chosen) {
  rank_order(w, n, chosen);
  if (selection == SPARSA_SELECT_TOP_K) return n < top_k ? n : (top_k > 0 ? top_k : 0);
  double sum = 0.0;
  for (int64_t c = 0; c < n; c++) {
    sum += w[chosen[c]];
    if (sum >= threshold) return c + 1;
  }
  return n;
}

START_TEST(selection_matches_definition) {
  enum { kMax = 400 };
  double w[kMax];
  int64_t got[kMax], want[kMax];
  sp_scored heap[kMax];
  for (int round = 0; round < rounds_of(20000); round++) {
    const int64_t n = draw(kMax + 1);
    const int levels = 1 + (int)draw(round % 3 == 0 ? 4 : 1000); /* few levels: ties */
    double total = 0.0;
    for (int64_t c = 0; c < n; c++) {
      w[c] = (double)draw(levels) / (double)levels;
      total += w[c];
    }
    const sparsa_selection selection = draw(3) == 0 ? SPARSA_SELECT_THRESHOLD : SPARSA_SELECT_TOP_K;
    const int32_t top_k = (int32_t)draw(100);
    const double threshold = total * (double)draw(1001) / 1000.0;
    const int64_t m = sp_est_select(w, n, selection, top_k, threshold, heap, got);
    const int64_t e = select_by_definition(w, n, selection, top_k, threshold, want);
    ck_assert_msg(m == e, "round %d: n %lld, top_k %d: %lld chosen, want %lld", round,
                  (long long)n, top_k, (long long)m, (long long)e);
    for (int64_t c = 0; c < m; c++)
      ck_assert_msg(got[c] == want[c], "round %d: rank %lld is %lld, want %lld", round,
                    (long long)c, (long long)got[c], (long long)want[c]);
  }
}
END_TEST

/* Vertical-slash masses (rows totalling at most 1): a threshold's running
 * sum is in fixed point, each mass truncated to its multiples of 2^-62
 * (core/estimate_mass.h), here computed with ldexp and floor. */
static int64_t select_masses_by_definition(const double *w, int64_t n, double threshold,
                                           int64_t *chosen) {
  rank_order(w, n, chosen);
  const double one = ldexp(1.0, 62);
  const uint64_t target = (uint64_t)ceil(threshold * one);
  uint64_t sum = 0;
  for (int64_t c = 0; c < n; c++) {
    sum += (uint64_t)floor(w[chosen[c]] * one);
    if (sum >= target) return c + 1;
  }
  return n;
}

START_TEST(mass_thresholds_sum_in_fixed_point) {
  enum { kMax = 300 };
  double w[kMax];
  int64_t got[kMax], want[kMax];
  sp_scored heap[kMax];
  for (int round = 0; round < rounds_of(20000); round++) {
    const int64_t n = 1 + draw(kMax);
    const int levels = 1 + (int)draw(round % 3 == 0 ? 4 : 1000); /* few levels: ties */
    double total = 0.0;
    for (int64_t c = 0; c < n; c++) {
      w[c] = (double)draw(levels + 1);
      total += w[c];
    }
    /* Normalized as the estimator's masses are, sometimes short of 1. */
    const double scale = total > 0.0 ? (round % 5 == 0 ? 0.7 : 1.0) / total : 0.0;
    for (int64_t c = 0; c < n; c++) w[c] *= scale;
    const double threshold = round % 7 == 0 ? 1.0 : (double)(1 + draw(1000)) / 1000.0;
    const int64_t m = sp_est_select_masses(w, n, SPARSA_SELECT_THRESHOLD, 8, threshold, heap, got);
    const int64_t e = select_masses_by_definition(w, n, threshold, want);
    ck_assert_msg(m == e, "round %d: n %lld: %lld chosen, want %lld", round, (long long)n,
                  (long long)m, (long long)e);
    /* The same set; a threshold's chosen come in index order. */
    qsort(want, (size_t)e, sizeof *want, by_index);
    for (int64_t c = 0; c < m; c++)
      ck_assert_msg(got[c] == want[c], "round %d: chosen %lld is %lld, want %lld", round,
                    (long long)c, (long long)got[c], (long long)want[c]);
  }
  /* Where the two sums part: five masses of 0.02 reach 0.1 in double but,
   * truncated, stay under it, so a sixth is kept. */
  const double small[6] = {0.02, 0.02, 0.02, 0.02, 0.02, 0.02};
  ck_assert_int_eq(sp_est_select(small, 6, SPARSA_SELECT_THRESHOLD, 8, 0.1, heap, got), 5);
  ck_assert_int_eq(sp_est_select_masses(small, 6, SPARSA_SELECT_THRESHOLD, 8, 0.1, heap, got), 6);
  /* Top-k of masses is top-k. */
  ck_assert_int_eq(sp_est_select_masses(small, 6, SPARSA_SELECT_TOP_K, 2, 0.1, heap, got), 2);
}
END_TEST

/* A row of the drawn kind: values from `levels` levels (ties when few),
 * sometimes with signed zeros, infinities and NaNs of both signs. */
static void draw_row(double *w, int64_t n, int levels, int specials) {
  for (int64_t c = 0; c < n; c++) {
    w[c] = (double)draw(levels) / (double)levels;
    if (specials && draw(8) == 0) {
      const double special[6] = {-0.0, 0.0, INFINITY, -INFINITY, NAN, -NAN};
      w[c] = special[draw(6)];
    }
  }
}

/* Top-k marked (no order) is the definition's first k as a set, and the
 * marks it does not set are left as they were. */
START_TEST(top_k_marks_match_definition) {
  enum { kMax = 3000 };
  static double w[kMax];
  static int64_t want[kMax];
  static uint8_t keep[kMax];
  for (int round = 0; round < rounds_of(6000); round++) {
    const int64_t n = draw(round % 4 == 0 ? kMax + 1 : 300);
    const int levels = 1 + (int)draw(round % 3 == 0 ? 4 : round % 3 == 1 ? 1000 : 1 << 30);
    draw_row(w, n, levels, round % 5 == 0);
    const int64_t top_k = draw(round % 2 ? 100 : n + 2);
    const int64_t e = select_by_definition(w, n, SPARSA_SELECT_TOP_K, (int32_t)top_k, 0.0, want);
    const uint8_t before = (uint8_t)(round % 7 == 0 ? 1 : 0); /* forced marks stay */
    memset(keep, before, (size_t)n);
    const int64_t m = sp_est_mark_top_k(w, n, top_k, keep);
    ck_assert_msg(m == e, "round %d: n %lld, top_k %lld: %lld chosen, want %lld", round,
                  (long long)n, (long long)top_k, (long long)m, (long long)e);
    int64_t marked = 0;
    for (int64_t c = 0; c < n; c++) marked += keep[c];
    if (!before) ck_assert_msg(marked == e, "round %d: %lld marked, want %lld", round,
                               (long long)marked, (long long)e);
    for (int64_t c = 0; c < e; c++)
      ck_assert_msg(keep[want[c]], "round %d: n %lld, top_k %lld: index %lld (rank %lld) unmarked",
                    round, (long long)n, (long long)top_k, (long long)want[c], (long long)c);
  }
}
END_TEST

/* NaNs have their place in the order: the rank-order selection and the
 * marking agree with the definition on rows that hold them. */
START_TEST(nan_scores_rank_by_order_keys) {
  enum { kN = 64 };
  double w[kN];
  int64_t got[kN], want[kN];
  sp_scored heap[kN];
  uint8_t keep[kN];
  for (int c = 0; c < kN; c++)
    w[c] = c % 7 == 3 ? NAN : c % 11 == 5 ? -NAN : (double)(c % 5);
  for (int32_t top_k = 1; top_k <= kN; top_k++) {
    const int64_t e = select_by_definition(w, kN, SPARSA_SELECT_TOP_K, top_k, 0.0, want);
    const int64_t m = sp_est_select(w, kN, SPARSA_SELECT_TOP_K, top_k, 0.0, heap, got);
    ck_assert_int_eq(m, e);
    for (int64_t c = 0; c < m; c++) ck_assert_int_eq(got[c], want[c]);
    memset(keep, 0, sizeof keep);
    ck_assert_int_eq(sp_est_mark_top_k(w, kN, top_k, keep), e);
    for (int64_t c = 0; c < e; c++) ck_assert(keep[want[c]]);
  }
  /* The positive NaNs (every 7th from 3: 9 of them) come first. */
  ck_assert_int_eq(sp_est_select(w, kN, SPARSA_SELECT_TOP_K, 9, 0.0, heap, got), 9);
  for (int c = 0; c < 9; c++) ck_assert_int_eq(got[c], 3 + 7 * c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("estimate_select");
  TCase *tc = tcase_create("estimate_select");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, selection_matches_definition);
  tcase_add_test(tc, mass_thresholds_sum_in_fixed_point);
  tcase_add_test(tc, top_k_marks_match_definition);
  tcase_add_test(tc, nan_scores_rank_by_order_keys);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
