/* The estimators' selection rule (sparsa_estimator.h): candidates ranked
 * by larger score, then smaller index; top-k keeps the first k, a
 * threshold the shortest prefix whose running sum reaches it. Top-k rows
 * are marked without ordering them (a few best of a long row by
 * insertion, otherwise the k-th best found by counting); thresholds take
 * candidates in rank order, from a heap or, for vertical-slash masses, by
 * a radix descent. */
#include <string.h>

#include "estimate.h"
#include "estimate_mass.h"

/* ---- top-k without ordering ---- */

/* The bisection below stops once its range holds at most this many
 * candidates and sorts them: each further step is a pass over the row,
 * sorting eight is a few dozen moves. */
#define SP_SELECT_FEW 8

/* Scores as order keys (estimate_mass.h): a larger score has a larger key,
 * -0 is +0, and a NaN has a key too (a positive one above +inf, a negative
 * one below -inf), so a row with NaNs still has a total order, the one the
 * radix descents use. */
static int64_t sp_count_keys_at_least(const double *w, int64_t n, uint64_t key, int ordered) {
  if (ordered) return sp_est_count_at_least(w, n, sp_order_value(key));
  int64_t count = 0;
  for (int64_t c = 0; c < n; c++) count += sp_order_key(w[c]) >= key;
  return count;
}

/* The key of the k-th best of w[0, n) (1 <= k < n): a bisection of the
 * order keys between the smallest and the largest, each step one count of
 * the candidates at or above the middle key, keeps the k-th best in
 * [lo, hi) with at least k candidates at or above lo and fewer than k at
 * or above hi, until that range holds one key or few enough candidates to
 * sort. At most 64 steps (the keys' bits); 6 on average over the pooled
 * estimator's rows of 256 blocks in its benchmark.
 * ordered: no NaN in the row (counts compare as doubles, vectorized). */
static uint64_t sp_kth_best_key(const double *w, int64_t n, int64_t k, uint64_t lo, uint64_t hi,
                                int ordered) {
  int64_t at_lo = n, at_hi = sp_count_keys_at_least(w, n, hi, ordered);
  if (at_hi >= k) return hi;
  while (hi - lo > 1 && at_lo - at_hi > SP_SELECT_FEW) {
    const uint64_t mid = lo + (hi - lo) / 2;
    const int64_t at_mid = sp_count_keys_at_least(w, n, mid, ordered);
    if (at_mid >= k) {
      lo = mid;
      at_lo = at_mid;
    } else {
      hi = mid;
      at_hi = at_mid;
    }
  }
  if (hi - lo == 1) return lo;
  /* The few keys in [lo, hi), largest first: the k-th best overall is the
   * (k - at_hi)-th of them. */
  uint64_t few[SP_SELECT_FEW] = {0}; /* all written below; zeroed for the compiler's flow analysis */
  int64_t m = 0;
  if (ordered) {
    double values[SP_SELECT_FEW];
    m = sp_est_gather_range(w, n, sp_order_value(lo), sp_order_value(hi), values, SP_SELECT_FEW);
    for (int64_t i = 0; i < m; i++) few[i] = sp_order_key(values[i]);
  } else {
    for (int64_t c = 0; c < n && m < SP_SELECT_FEW; c++) {
      const uint64_t key = sp_order_key(w[c]);
      if (key >= lo && key < hi) few[m++] = key;
    }
  }
  for (int64_t i = 1; i < m; i++) {
    const uint64_t key = few[i];
    int64_t at = i;
    for (; at > 0 && key > few[at - 1]; at--) few[at] = few[at - 1];
    few[at] = key;
  }
  return few[k - at_hi - 1];
}

/* A few best of a long row (k <= SP_SELECT_INSERT_MAX, 8 k^2 <= n, no
 * NaN) by insertion into the best k in index order: once k are held, a
 * vectorized scan skips to the next score above the k-th best (a tie with
 * it ranks after it: its index is larger), so a row costs about n / 8
 * vector compares and k (1 + ln(n / k)) insertions. The counting below
 * makes ~8 passes over the row instead: 3x slower for a vertical-slash
 * estimate's top-17 of 16,384 columns, 2x faster for a pooled row's
 * top-24 of 256 blocks. */
#define SP_SELECT_INSERT_MAX 64
static void sp_mark_by_insertion(const double *w, int64_t n, int64_t k, uint8_t *keep) {
  double best[SP_SELECT_INSERT_MAX];
  int64_t index[SP_SELECT_INSERT_MAX];
  int64_t size = 0;
  for (int64_t c = 0; c < n; c++) {
    if (size == k && (c = sp_est_first_above(w, c, n, best[k - 1])) == n) break;
    int64_t at = size < k ? size++ : k - 1;
    for (; at > 0 && w[c] > best[at - 1]; at--) {
      best[at] = best[at - 1];
      index[at] = index[at - 1];
    }
    best[at] = w[c];
    index[at] = c;
  }
  for (int64_t i = 0; i < size; i++) keep[index[i]] = 1;
}

int64_t sp_est_mark_top_k(const double *w, int64_t n, int64_t k, uint8_t *keep) {
  if (n <= 0 || k <= 0) return 0;
  if (k >= n) {
    memset(keep, 1, (size_t)n);
    return n;
  }
  double smallest, largest;
  const int ordered = sp_est_value_range(w, n, &smallest, &largest) == n;
  if (ordered && k <= SP_SELECT_INSERT_MAX && 8 * k * k <= n) {
    sp_mark_by_insertion(w, n, k, keep);
    return k;
  }
  uint64_t lo, hi;
  if (ordered) {
    lo = sp_order_key(smallest);
    hi = sp_order_key(largest);
  } else {
    lo = hi = sp_order_key(w[0]);
    for (int64_t c = 1; c < n; c++) {
      const uint64_t key = sp_order_key(w[c]);
      lo = key < lo ? key : lo;
      hi = key > hi ? key : hi;
    }
  }
  const uint64_t kth = sp_kth_best_key(w, n, k, lo, hi, ordered);
  const int64_t at_least = sp_count_keys_at_least(w, n, kth, ordered);
  if (ordered && at_least == k) { /* no tie across the k-th: one vectorized pass */
    sp_est_mark_at_least(w, n, sp_order_value(kth), keep);
    return k;
  }
  /* Ties at the k-th best key: those above it, and of those on it the
   * smallest indices the k still has room for. */
  int64_t on = 0;
  for (int64_t c = 0; c < n; c++) on += sp_order_key(w[c]) == kth;
  int64_t room = k - (at_least - on);
  for (int64_t c = 0; c < n; c++) {
    const uint64_t key = sp_order_key(w[c]);
    if (key > kth || (key == kth && room > 0 && room--)) keep[c] = 1;
  }
  return k;
}

/* ---- in rank order ---- */

/* a ranks before b: larger score (order key) first, then smaller index. */
static inline int sp_scored_before(const sp_scored *a, const sp_scored *b) {
  const uint64_t ka = sp_order_key(a->w), kb = sp_order_key(b->w);
  return ka > kb || (ka == kb && a->index < b->index);
}

static void sp_sift_down(sp_scored *heap, int64_t n, int64_t at) {
  for (;;) {
    int64_t best = at, l = 2 * at + 1, r = l + 1;
    if (l < n && sp_scored_before(&heap[l], &heap[best])) best = l;
    if (r < n && sp_scored_before(&heap[r], &heap[best])) best = r;
    if (best == at) return;
    sp_scored t = heap[at];
    heap[at] = heap[best];
    heap[best] = t;
    at = best;
  }
}

/* Candidates come out of a heap in rank order, so only the chosen prefix
 * is ordered: O(n + k log n) instead of a full sort per row. */
int64_t sp_est_select(const double *w, int64_t n, sparsa_selection selection, int32_t top_k,
                      double threshold, sp_scored *heap, int64_t *chosen) {
  for (int64_t c = 0; c < n; c++) {
    heap[c].w = w[c];
    heap[c].index = c;
  }
  for (int64_t at = n / 2 - 1; at >= 0; at--) sp_sift_down(heap, n, at);
  int64_t limit = selection == SPARSA_SELECT_TOP_K ? (n < top_k ? n : top_k) : n;
  double sum = 0.0;
  int64_t count = 0, size = n;
  while (count < limit) {
    sp_scored top = heap[0];
    chosen[count++] = top.index;
    heap[0] = heap[--size];
    sp_sift_down(heap, size, 0);
    if (selection == SPARSA_SELECT_THRESHOLD) {
      sum += top.w;
      if (sum >= threshold) break;
    }
  }
  return count;
}

/* A threshold over masses in fixed point without ordering them: a radix
 * descent over the order keys, 8 bits a pass from the highest one the keys
 * differ in, carrying each digit's count and fixed-point mass, finds the
 * key K at which the running sum in rank order reaches the target; the
 * chosen are the keys above K and, of those equal to it, as many as the
 * sum still needs, smallest indices first (the rank order's prefix, as a
 * set: in index order). The GPU's mass_select, sequentially; a heap popped
 * in rank order took half of a vertical-slash estimate at threshold 0.9
 * (~8,000 of 16,384 candidates a row). keys and fixed: n entries of
 * scratch each, the order keys and the fixed-point masses every pass
 * reads. */
static int64_t sp_select_mass_prefix(const double *w, int64_t n, double threshold,
                                     uint64_t *keys, uint64_t *fixed, int64_t *chosen) {
  const uint64_t target = sp_mass_target(threshold);
  uint64_t total = 0, any = 0, all = ~(uint64_t)0;
  int64_t top = 0;
  for (int64_t c = 0; c < n; c++) {
    keys[c] = sp_order_key(w[c]);
    fixed[c] = sp_mass_fixed(w[c]);
    total += fixed[c];
    any |= keys[c];
    all &= keys[c];
    if (keys[c] > keys[top]) top = c;
  }
  if (total < target) { /* never reached: every candidate */
    for (int64_t c = 0; c < n; c++) chosen[c] = c;
    return n;
  }
  if (target == 0) { /* the first of the order, as a running sum takes it */
    chosen[0] = top;
    return n > 0 ? 1 : 0;
  }
  const uint64_t differ = any ^ all;
  int bit = 63;
  while (bit >= 0 && !(differ >> bit & 1)) bit--;
  uint64_t mask = sp_radix_shared_mask(bit);
  uint64_t prefix = all & mask, above = 0; /* above: the mass of keys above the prefix */
  int whole = 0; /* the crossing digit holds one key: keep every key at or above prefix */
  for (int shift = sp_radix_first_shift(bit); shift >= 0 && !whole;
       shift = sp_radix_next_shift(shift)) {
    int64_t count[256] = {0};
    uint64_t mass[256] = {0};
    for (int64_t c = 0; c < n; c++)
      if ((keys[c] & mask) == prefix) {
        const int d = (int)(keys[c] >> shift & 255);
        count[d]++;
        mass[d] += fixed[c];
      }
    int d = 255;
    while (d > 0 && above + mass[d] < target) above += mass[d--];
    prefix |= (uint64_t)d << shift;
    mask |= (uint64_t)255 << shift;
    whole = count[d] == 1;
  }
  int64_t m = 0;
  if (whole) {
    for (int64_t c = 0; c < n; c++)
      if ((keys[c] & mask) >= prefix) chosen[m++] = c;
    return m;
  }
  /* One key K = prefix left, each of its candidates of mass mk > 0 (the
   * descent entered it for its mass). */
  const uint64_t mk = sp_mass_fixed(sp_order_value(prefix));
  uint64_t need = mk > 0 ? (target - above + mk - 1) / mk : 0;
  for (int64_t c = 0; c < n; c++)
    if (keys[c] > prefix || (keys[c] == prefix && need > 0 && need--)) chosen[m++] = c;
  return m;
}

int64_t sp_est_select_masses(const double *w, int64_t n, sparsa_selection selection,
                             int32_t top_k, double threshold, sp_scored *heap, int64_t *chosen) {
  if (selection == SPARSA_SELECT_THRESHOLD && n > 0) /* heap: 16 bytes a candidate */
    return sp_select_mass_prefix(w, n, threshold, (uint64_t *)heap, (uint64_t *)heap + n, chosen);
  return sp_est_select(w, n, selection, top_k, threshold, heap, chosen);
}

int64_t sp_est_mark_selected(const double *w, int64_t n, sparsa_selection selection,
                             int32_t top_k, double threshold, int masses, sp_scored *scratch,
                             int64_t *chosen, uint8_t *keep) {
  if (selection == SPARSA_SELECT_TOP_K) return sp_est_mark_top_k(w, n, top_k, keep);
  const int64_t count = masses ? sp_est_select_masses(w, n, selection, top_k, threshold, scratch, chosen)
                               : sp_est_select(w, n, selection, top_k, threshold, scratch, chosen);
  for (int64_t e = 0; e < count; e++) keep[chosen[e]] = 1;
  return count;
}
