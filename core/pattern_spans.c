/* Candidate key blocks per query block, kind by kind (see pattern_spans.h).
 *
 * Distance-based kinds get O(1) runs from their distance bounds, with the
 * full interior computed exactly; listed sets (columns, diagonals, tiles,
 * global tokens) give runs prepared once per build (pattern_spans_prep.c);
 * neighborhoods give exact runs per key grid row (bounding boxes when the
 * last axis is dilated), radial patterns exact runs per key frame (bounding
 * ones when a query block straddles frames); unions and intersections
 * merge their children's runs. Most runs come out already known full or
 * partial, so the builder classifies few blocks one by one. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "pattern_internal.h"
#include "pattern_spans.h"

sp_tiling sp_tiling_make(const sp_geom *g, int64_t block_q, int64_t block_kv) {
  sp_tiling t;
  t.g = *g;
  t.block_q = block_q;
  t.block_kv = block_kv;
  t.num_q_blocks = (g->q_len + block_q - 1) / block_q;
  t.num_kv_blocks = (g->kv_len + block_kv - 1) / block_kv;
  t.kv_shift = t.q_shift = 0;
  t.direct = 0;
  while (((int64_t)1 << t.kv_shift) < block_kv) t.kv_shift++;
  while (((int64_t)1 << t.q_shift) < block_q) t.q_shift++;
  return t;
}

void sp_spans_free(sp_spans *s) {
  sp_free(s->v);
  s->v = NULL;
  s->n = s->cap = 0;
}

static sparsa_status sp_spans_grow(sp_spans *s, int64_t extra) {
  int64_t cap = s->cap ? s->cap : 64;
  while (cap < s->n + extra) cap *= 2;
  sp_span *v = sp_realloc(s->v, sp_mul_size((size_t)cap, sizeof *v));
  if (v == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask building: growing the candidate list to %lld",
                   (long long)cap);
  s->v = v;
  s->cap = cap;
  return SPARSA_OK;
}

static inline sparsa_status sp_spans_reserve(sp_spans *s, int64_t extra) {
  return s->n + extra <= s->cap ? SPARSA_OK : sp_spans_grow(s, extra);
}

/* The query block and the quantities every kind starts from. */
typedef struct sp_qtile {
  const sp_tiling *t;
  int64_t q0, q1;  /* rows [q0, q1) */
  int64_t P0, P1;  /* aligned positions of the first and last row */
  int64_t base;    /* first span of this call in the output list */
  int64_t hull_end; /* key blocks from here on are not needed: an
                       intersection's earlier parts list none there, or a
                       translation's head ends there */
} sp_qtile;

static inline sparsa_status sp_push(sp_spans *s, const sp_qtile *qt, int64_t b0, int64_t b1,
                                   int cls);

/* sp_push of a run stronger than the last one that starts before it (a
 * tail left by an earlier split), so that it may cover several runs: every
 * run from the first one it overlaps is taken off and pushed again in
 * pieces, each piece inside [b0, b1) with the stronger of the two classes.
 * Splitting the last run only would leave the runs before it overlapping
 * the new one. */
static sparsa_status sp_push_over(sp_spans *s, const sp_qtile *qt, int64_t b0, int64_t b1,
                                  int cls) {
  int64_t m = s->n;
  while (m > qt->base && s->v[m - 1].b1 > b0) m--;
  int64_t k = s->n - m;
  /* Pieces, written from m on: per run taken off, the new run alone before
   * it and the part they share; the first run's part before the new one,
   * the last one's after it, the new run's end: 2k + 3 at most. The runs
   * taken off wait beyond that room (which the reserve keeps in place). */
  SP_TRY(sp_spans_reserve(s, 3 * k + 4));
  sp_span *old = s->v + m + 2 * k + 3;
  memmove(old, s->v + m, (size_t)k * sizeof *old);
  s->n = m;
  int64_t x = b0; /* where the new run's next piece starts */
  for (int64_t i = 0; i < k; i++) {
    sp_span o = old[i];
    if (o.b0 > x && x < b1) { /* the new run alone, up to o */
      SP_TRY(sp_push(s, qt, x, sp_min64(o.b0, b1), cls));
      x = sp_min64(o.b0, b1);
    }
    int64_t in0 = sp_max64(o.b0, b0), in1 = sp_min64(o.b1, b1);
    if (in0 >= in1) {
      SP_TRY(sp_push(s, qt, o.b0, o.b1, (int)o.cls));
      continue;
    }
    if (o.b0 < in0) SP_TRY(sp_push(s, qt, o.b0, in0, (int)o.cls));
    SP_TRY(sp_push(s, qt, in0, in1, cls > o.cls ? cls : (int)o.cls));
    if (in1 < o.b1) SP_TRY(sp_push(s, qt, in1, o.b1, (int)o.cls));
    x = sp_max64(x, in1);
  }
  if (x < b1) SP_TRY(sp_push(s, qt, x, b1, cls));
  return SPARSA_OK;
}

/* sp_push of a run stronger than the last one, which it overlaps: the
 * last is split around it (out of line: rare, and sp_push stays small
 * where it is inlined). */
__attribute__((noinline)) static sparsa_status sp_push_stronger(sp_spans *s, const sp_qtile *qt,
                                                                int64_t b0, int64_t b1, int cls) {
  sp_span *last = &s->v[s->n - 1];
  if (b0 < last->b0) return sp_push_over(s, qt, b0, b1, cls);
  sp_span tail = *last;
  tail.b0 = b1;
  last->b1 = b0;
  if (last->b1 <= last->b0) s->n--;
  SP_TRY(sp_spans_reserve(s, 2));
  s->v[s->n++] = (sp_span){b0, b1, cls};
  if (tail.b0 < tail.b1) s->v[s->n++] = tail;
  return SPARSA_OK;
}

/* Appends [b0, b1) with class cls, clipped to the key blocks. Pushes come in
 * non-decreasing b0 order within a region; a run that touches the previous
 * one of the same class extends it, and where two runs overlap the
 * stronger class wins (both describe the same pattern). */
static inline sparsa_status sp_push(sp_spans *s, const sp_qtile *qt, int64_t b0, int64_t b1,
                                   int cls) {
  if (b0 < 0) b0 = 0;
  if (b1 > qt->t->num_kv_blocks) b1 = qt->t->num_kv_blocks;
  if (b0 >= b1) return SPARSA_OK;
  if (s->n > qt->base) {
    sp_span *last = &s->v[s->n - 1];
    if (b0 <= last->b1) {
      if (cls == last->cls) {
        if (b1 > last->b1) last->b1 = b1;
        return SPARSA_OK;
      }
      if (b0 < last->b1) {
        if (cls > last->cls) return sp_push_stronger(s, qt, b0, b1, cls);
        b0 = last->b1;
        if (b0 >= b1) return SPARSA_OK;
      }
    }
  }
  SP_TRY(sp_spans_reserve(s, 1));
  s->v[s->n++] = (sp_span){b0, b1, cls};
  return SPARSA_OK;
}

/* Key blocks that intersect the token range [j0, j1]. */
static int sp_token_blocks(const sp_qtile *qt, int64_t j0, int64_t j1, int64_t *b0, int64_t *b1) {
  if (j0 < 0) j0 = 0;
  if (j1 > qt->t->g.kv_len - 1) j1 = qt->t->g.kv_len - 1;
  if (j0 > j1) return 0;
  *b0 = j0 >> qt->t->kv_shift;
  *b1 = (j1 >> qt->t->kv_shift) + 1;
  return 1;
}

/* First key block whose first token is >= y. */
static int64_t sp_blocks_from(const sp_qtile *qt, int64_t y) {
  if (y <= 0) return 0;
  int64_t b = (y + qt->t->block_kv - 1) >> qt->t->kv_shift;
  return b < qt->t->num_kv_blocks ? b : qt->t->num_kv_blocks;
}

/* Number of leading key blocks whose last token is <= x. */
static int64_t sp_blocks_below(const sp_qtile *qt, int64_t x) {
  if (x >= qt->t->g.kv_len - 1) return qt->t->num_kv_blocks;
  if (x < 0) return 0;
  return (x + 1) >> qt->t->kv_shift;
}

/* Blocks meeting the candidate tokens [c0, c1]: those lying inside
 * [f0, f1] get interior_cls, the others edge_cls. */
static sparsa_status sp_range_spans(const sp_qtile *qt, int64_t c0, int64_t c1, int64_t f0,
                                    int64_t f1, int edge_cls, int interior_cls, sp_spans *out) {
  int64_t cb0, cb1;
  if (!sp_token_blocks(qt, c0, c1, &cb0, &cb1)) return SPARSA_OK;
  int64_t fb0 = sp_max64(sp_blocks_from(qt, f0), cb0);
  int64_t fb1 = sp_min64(sp_blocks_below(qt, f1), cb1);
  if (fb0 >= fb1) return sp_push(out, qt, cb0, cb1, edge_cls);
  SP_TRY(sp_push(out, qt, cb0, fb0, edge_cls));
  SP_TRY(sp_push(out, qt, fb0, fb1, interior_cls));
  return sp_push(out, qt, fb1, cb1, edge_cls);
}

/* The band lo <= d <= hi: candidate blocks meet the token range
 * [P0 - hi, P1 - lo], each with a visible pair (the distances of a tile are
 * contiguous); the interior blocks, inside [P1 - hi, P0 - lo], see only
 * distances inside the band. */
static sparsa_status sp_band_spans(const sp_qtile *qt, int64_t lo, int64_t hi, int edge_cls,
                                   int interior_cls, sp_spans *out) {
  return sp_range_spans(qt, qt->P0 - hi, qt->P1 - lo, qt->P1 - hi, qt->P0 - lo, edge_cls,
                        interior_cls, out);
}

static sparsa_status sp_dilated_spans(const sparsa_pattern *p, const sp_qtile *qt,
                                      sp_spans *out) {
  int64_t g = p->u.win.dilation, lo = -sp_cap(p->u.win.right), hi = sp_cap(p->u.win.left);
  if (g == 1) return sp_band_spans(qt, lo, hi, SP_SPAN_PARTIAL, SP_SPAN_FULL, out);
  /* An interior tile sees (rows + columns - 1) consecutive distances, all in
   * the band: with at least g of them one is a multiple of g. */
  const sp_tiling *t = qt->t;
  int64_t narrowest = sp_min64(t->block_kv, t->g.kv_len - (t->num_kv_blocks - 1) * t->block_kv);
  int interior = (qt->q1 - qt->q0) + narrowest - 1 >= g ? SP_SPAN_PARTIAL : SP_SPAN_CHECK;
  return sp_band_spans(qt, lo, hi, SP_SPAN_CHECK, interior, out);
}

typedef enum sp_merge_op {
  SP_MERGE_UNION,        /* a pattern union: classes as its classification gives them */
  SP_MERGE_UNION_EXACT,  /* two parts of one rule: overlaps are re-checked */
  SP_MERGE_INTERSECTION,
  SP_MERGE_ROWS          /* two row ranges of one query block: full only if full in both */
} sp_merge_op;

static int sp_merge_class(int in_a, int ca, int in_b, int cb, sp_merge_op op) {
  if (op == SP_MERGE_INTERSECTION) {
    if (!in_a || !in_b) return -1;
    /* A part that sees every pair leaves the other part's class. */
    if (ca == SP_SPAN_FULL) return cb;
    if (cb == SP_SPAN_FULL) return ca;
    return SP_SPAN_CHECK;
  }
  if (op == SP_MERGE_ROWS) {
    if (!in_a && !in_b) return -1;
    if (in_a && in_b && ca == SP_SPAN_FULL && cb == SP_SPAN_FULL) return SP_SPAN_FULL;
    /* A row range that sees nothing of a block keeps it from being full;
     * exact parts report no CHECK, so a visible pair is known. */
    int c = in_a ? ca : cb;
    if (in_a && in_b && (ca == SP_SPAN_CHECK || cb == SP_SPAN_CHECK)) c = SP_SPAN_CHECK;
    return c == SP_SPAN_CHECK ? SP_SPAN_CHECK : SP_SPAN_PARTIAL;
  }
  if (!in_a) return in_b ? cb : -1;
  if (!in_b) return ca;
  if (ca == SP_SPAN_FULL || cb == SP_SPAN_FULL) return SP_SPAN_FULL;
  if (op == SP_MERGE_UNION_EXACT) return SP_SPAN_CHECK;
  return (ca == SP_SPAN_CHECK || cb == SP_SPAN_CHECK) ? SP_SPAN_CHECK : SP_SPAN_PARTIAL;
}

/* Whether span b, after a, is appended as it is: it neither touches a run
 * of its own class nor overlaps (sp_push would change nothing), and lies
 * inside the key blocks. */
static inline int sp_span_follows(const sp_span *a, const sp_span *b, int64_t num_kv_blocks) {
  return (b->b0 > a->b1 || (b->b0 == a->b1 && b->cls != a->cls)) && b->b1 <= num_kv_blocks;
}

/* Pushes src[0..n) as they are, the first cut to start at x or later: the
 * pieces of a merge where the other region leaves each class unchanged
 * (an intersection inside a full span, a union outside the other's spans).
 * What sp_push would do; once a span is appended as it is, the spans after
 * it that follow one another so (a region's own spans do) are copied in
 * one step. Room for n spans is reserved. */
static sparsa_status sp_push_spans(sp_spans *out, const sp_qtile *qt, const sp_span *src, int64_t n,
                                   int64_t x) {
  const int64_t nkv = qt->t->num_kv_blocks;
  SP_TRY(sp_push(out, qt, sp_max64(src[0].b0, x), src[0].b1, (int)src[0].cls));
  for (int64_t k = 1; k < n;) {
    if (out->n > qt->base && sp_span_follows(&out->v[out->n - 1], &src[k], nkv)) {
      int64_t m = k + 1;
      while (m < n && sp_span_follows(&src[m - 1], &src[m], nkv)) m++;
      memcpy(out->v + out->n, src + k, (size_t)(m - k) * sizeof *src);
      out->n += m - k;
      k = m;
    } else {
      SP_TRY(sp_push(out, qt, src[k].b0, src[k].b1, (int)src[k].cls));
      k++;
    }
  }
  return SPARSA_OK;
}

/* Spans of src[0..n) that end at or before y. */
static inline int64_t sp_spans_ending_by(const sp_span *src, int64_t n, int64_t y) {
  int64_t k = 0;
  while (k < n && src[k].b1 <= y) k++;
  return k;
}

/* Merges the regions [a, b) and [b, n) of out (each sorted and disjoint)
 * into one, left at [a, ...). */
static sparsa_status sp_merge_regions(sp_spans *out, const sp_qtile *qt, int64_t a, int64_t b,
                                      sp_merge_op op) {
  int64_t na = b - a, nb = out->n - b;
  if (op == SP_MERGE_ROWS) {
    if (na == 0 && nb == 0) return SPARSA_OK;
  } else if (op != SP_MERGE_INTERSECTION) {
    if (nb == 0) return SPARSA_OK;
    if (na == 0) {
      memmove(out->v + a, out->v + b, (size_t)nb * sizeof(sp_span));
      out->n = a + nb;
      return SPARSA_OK;
    }
  } else if (na == 0 || nb == 0) {
    out->n = a;
    return SPARSA_OK;
  }
  if ((op == SP_MERGE_UNION || op == SP_MERGE_UNION_EXACT) && out->v[b - 1].b1 <= out->v[b].b0) {
    /* Already in order: one run may continue the other. */
    sp_span *last = &out->v[b - 1];
    if (last->b1 == out->v[b].b0 && last->cls == out->v[b].cls) {
      last->b1 = out->v[b].b1;
      memmove(out->v + b, out->v + b + 1, (size_t)(nb - 1) * sizeof(sp_span));
      out->n--;
    }
    return SPARSA_OK;
  }
  SP_TRY(sp_spans_reserve(out, 2 * (na + nb) + 1));
  int64_t c = out->n;
  sp_qtile sub = *qt;
  sub.base = c;
  /* Room was reserved above: no push below reallocates, A and B stay put.
   * The pieces between consecutive boundaries of either region, in order,
   * each with the class its regions give it; x is where the last one ended. */
  const sp_span *A = out->v + a, *B = out->v + b;
  int64_t i = 0, j = 0, x = INT64_MIN;
  int is_union = op == SP_MERGE_UNION || op == SP_MERGE_UNION_EXACT;
  int is_inter = op == SP_MERGE_INTERSECTION, bulk = !qt->t->direct;
  while (i < na && j < nb) {
    int64_t a0 = sp_max64(A[i].b0, x), b0 = sp_max64(B[j].b0, x), s, e, k;
    int cls;
    /* Runs of spans that keep their class go through in one step: A's
     * before B's next span (union), or inside a full span of B
     * (intersection); and the same with A and B exchanged. */
    if (bulk && (is_union ? a0 < b0 : is_inter && b0 <= a0 && a0 < B[j].b1 && B[j].cls == SP_SPAN_FULL)) {
      k = sp_spans_ending_by(A + i, na - i, is_union ? b0 : B[j].b1);
      if (k > 0) {
        SP_TRY(sp_push_spans(out, &sub, A + i, k, x));
        i += k;
        x = A[i - 1].b1;
        j += B[j].b1 <= x;
        continue;
      }
    }
    if (bulk && (is_union ? b0 < a0 : is_inter && a0 <= b0 && b0 < A[i].b1 && A[i].cls == SP_SPAN_FULL)) {
      k = sp_spans_ending_by(B + j, nb - j, is_union ? a0 : A[i].b1);
      if (k > 0) {
        SP_TRY(sp_push_spans(out, &sub, B + j, k, x));
        j += k;
        x = B[j - 1].b1;
        i += A[i].b1 <= x;
        continue;
      }
    }
    if (a0 < b0) {
      s = a0;
      e = sp_min64(A[i].b1, b0);
      cls = sp_merge_class(1, (int)A[i].cls, 0, 0, op);
    } else if (b0 < a0) {
      s = b0;
      e = sp_min64(B[j].b1, a0);
      cls = sp_merge_class(0, 0, 1, (int)B[j].cls, op);
    } else {
      s = a0;
      e = sp_min64(A[i].b1, B[j].b1);
      cls = sp_merge_class(1, (int)A[i].cls, 1, (int)B[j].cls, op);
    }
    if (cls >= 0) SP_TRY(sp_push(out, &sub, s, e, cls));
    x = e;
    i += A[i].b1 <= x;
    j += B[j].b1 <= x;
  }
  /* The rest lies in one region only, which an intersection drops. */
  if (is_union && bulk) {
    if (i < na) SP_TRY(sp_push_spans(out, &sub, A + i, na - i, x));
    if (j < nb) SP_TRY(sp_push_spans(out, &sub, B + j, nb - j, x));
  } else if (!is_inter) {
    for (; i < na; i++) {
      SP_TRY(sp_push(out, &sub, sp_max64(A[i].b0, x), A[i].b1,
                     sp_merge_class(1, (int)A[i].cls, 0, 0, op)));
    }
    for (; j < nb; j++) {
      SP_TRY(sp_push(out, &sub, sp_max64(B[j].b0, x), B[j].b1,
                     sp_merge_class(0, 0, 1, (int)B[j].cls, op)));
    }
  }
  int64_t m = out->n - c;
  memmove(out->v + a, out->v + c, (size_t)m * sizeof(sp_span));
  out->n = a + m;
  return SPARSA_OK;
}

static int sp_cmp_span(const void *x, const void *y) {
  const sp_span *a = x, *b = y;
  return (a->b0 > b->b0) - (a->b0 < b->b0);
}

/* Sorts the region [base, n) of CHECK runs and merges overlapping ones. */
static void sp_normalize_checks(sp_spans *out, int64_t base) {
  int64_t n = out->n - base;
  if (n <= 1) return;
  sp_span *v = out->v + base;
  qsort(v, (size_t)n, sizeof *v, sp_cmp_span);
  int64_t w = 0;
  for (int64_t k = 1; k < n; k++) {
    if (v[k].b0 <= v[w].b1) {
      if (v[k].b1 > v[w].b1) v[w].b1 = v[k].b1;
    } else {
      v[++w] = v[k];
    }
  }
  out->n = base + w + 1;
}

static sparsa_status sp_sink_spans(const sparsa_pattern *p, const sp_qtile *qt, sp_spans *out) {
  int64_t sink = sp_cap(p->u.sink.sink), window = sp_cap(p->u.sink.window);
  int64_t mid = out->n;
  /* Sinks the block sees (causally), full where every key is a sink before P0. */
  int64_t last_sink = sp_min64(sink - 1, qt->P1), sb1 = 0;
  if (sink > 0 && last_sink >= 0)
    SP_TRY(sp_range_spans(qt, 0, last_sink, 0, sp_min64(sink - 1, qt->P0), SP_SPAN_PARTIAL,
                          SP_SPAN_FULL, out));
  if (out->n > mid) sb1 = out->v[out->n - 1].b1;
  int64_t split = out->n;
  sp_qtile sub = *qt;
  sub.base = split;
  SP_TRY(sp_band_spans(&sub, 0, window - 1, SP_SPAN_PARTIAL, SP_SPAN_FULL, out));
  /* Usually the sinks end before the window starts: nothing to merge. */
  if (out->n == split || split == mid || out->v[split].b0 >= sb1) return SPARSA_OK;
  return sp_merge_regions(out, qt, mid, split, SP_MERGE_UNION_EXACT);
}

static sparsa_status sp_power_spans(const sparsa_pattern *p, const sp_qtile *qt, sp_spans *out) {
  int64_t local = sp_cap(p->u.power.local);
  /* Each block a diagonal crosses holds a pair on it; such a block can be
   * full only if it sees fewer than three distances (among three
   * consecutive ones, one is not a power of two). */
  const sp_tiling *t = qt->t;
  int64_t narrowest = sp_min64(t->block_kv, t->g.kv_len - (t->num_kv_blocks - 1) * t->block_kv);
  int cls = (qt->q1 - qt->q0) + narrowest - 1 >= 3 ? SP_SPAN_PARTIAL : SP_SPAN_CHECK;
  /* Diagonals from the farthest (smallest keys) to the nearest, then the
   * local band, whose first blocks lie at or after the last diagonal's:
   * where they overlap the stronger class stays (sound; a block that only
   * the two together fill stays partial). */
  if (qt->P1 >= 1)
    for (int e = 63 - __builtin_clzll((unsigned long long)qt->P1); e >= 0; e--) {
      int64_t d = (int64_t)1 << e, b0, b1;
      if (d < local) break;
      if (!sp_token_blocks(qt, qt->P0 - d, qt->P1 - d, &b0, &b1)) continue;
      if (b0 >= qt->hull_end) break; /* nearer distances lie further on */
      SP_TRY(sp_push(out, qt, b0, b1, cls));
    }
  if (local > 0) SP_TRY(sp_band_spans(qt, 0, local - 1, SP_SPAN_PARTIAL, SP_SPAN_FULL, out));
  return SPARSA_OK;
}

/* The runs of listed columns up to last_col; called first in its region,
 * so that the runs wholly before the cut are copied as prepared. */
static sparsa_status sp_column_runs(const sp_span_prep *pr, const sp_qtile *qt, int64_t last_col,
                                    sp_spans *out) {
  int64_t whole = pr->num_runs; /* runs whose every column is <= last_col */
  if (whole > 0 && pr->first_col[pr->run_end[whole - 1] - 1] > last_col) {
    int64_t lo = 0, hi = whole - 1;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (pr->first_col[pr->run_end[mid] - 1] <= last_col)
        lo = mid + 1;
      else
        hi = mid;
    }
    whole = lo;
  }
  if (out->n == qt->base && whole > 0) {
    SP_TRY(sp_spans_reserve(out, whole));
    memcpy(out->v + out->n, pr->run_span, (size_t)whole * sizeof(sp_span));
    out->n += whole;
  } else {
    whole = 0;
  }
  for (int64_t r = whole; r < pr->num_runs; r++) {
    int64_t i0 = pr->run_start[r], i1 = pr->run_end[r];
    if (pr->first_col[i0] > last_col) break;
    int64_t i = i1;
    if (pr->first_col[i1 - 1] > last_col) { /* cut inside the run */
      int64_t lo = i0, hi = i1 - 1;
      while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (pr->first_col[mid] <= last_col)
          lo = mid + 1;
        else
          hi = mid;
      }
      i = lo;
    }
    SP_TRY(sp_push(out, qt, pr->block[i0], pr->block[i - 1] + 1, pr->cls[i0]));
    if (i < i1) break;
  }
  return SPARSA_OK;
}

static sparsa_status sp_vslash_spans(const sparsa_pattern *p, const sp_span_prep *pr,
                                     const sp_qtile *qt, sp_spans *out) {
  const sp_tiling *t = qt->t;
  int64_t qb = qt->q0 >> t->q_shift, bound;
  if (pr->vslash_rows != NULL && (bound = sp_vslash_rows_bound(pr->vslash_rows, t, qb)) >= 0) {
    SP_TRY(sp_spans_reserve(out, bound));
    out->n += sp_vslash_rows_spans(pr->vslash_rows, t, qb, out->v + out->n);
    return SPARSA_OK;
  }
  int64_t mid = out->n;
  /* Listed columns up to P1 (causal): each one's block holds a visible pair;
   * a block whose every column is listed is checked, it may be full. */
  SP_TRY(sp_column_runs(pr, qt, sp_min64(qt->P1, t->g.kv_len - 1), out));
  int64_t split = out->n;
  sp_qtile sub = *qt;
  sub.base = split;
  /* Offsets d in [P0 - (kv_len - 1), P1] reach the keys: segments from the
   * largest offsets (smallest keys) down, each cut to its listed offsets in
   * that range (a cluster's promise holds between listed offsets only). */
  const sp_index_set *o = &p->set_b;
  int64_t first_in = sp_index_lower(o, qt->P0 - (t->g.kv_len - 1));
  int64_t last_in = sp_index_lower(o, qt->P1 == INT64_MAX ? qt->P1 : qt->P1 + 1) - 1;
  if (first_in > last_in) return sp_merge_regions(out, qt, mid, split, SP_MERGE_UNION);
  int64_t dlo = o->v[first_in], dhi = o->v[last_in];
  int64_t lo_i = 0, hi_i = pr->num_segments;
  while (lo_i < hi_i) { /* first segment ending at or after dlo */
    int64_t m = lo_i + (hi_i - lo_i) / 2;
    if (pr->seg_hi[m] < dlo)
      lo_i = m + 1;
    else
      hi_i = m;
  }
  int full_height = qt->q1 - qt->q0 == t->block_q;
  int64_t s = lo_i;
  while (s < pr->num_segments && pr->seg_lo[s] <= dhi) s++;
  for (s = s - 1; s >= lo_i; s--) {
    int64_t lo = sp_max64(pr->seg_lo[s], dlo), hi = sp_min64(pr->seg_hi[s], dhi), b0, b1;
    if (pr->seg_band[s]) {
      SP_TRY(sp_band_spans(&sub, lo, hi, SP_SPAN_PARTIAL, SP_SPAN_FULL, out));
    } else if (sp_token_blocks(qt, qt->P0 - hi, qt->P1 - lo, &b0, &b1)) {
      /* One diagonal, or a cluster over a full-height block: every block met
       * holds a pair on a listed diagonal. */
      int cls = lo == hi || full_height ? SP_SPAN_PARTIAL : SP_SPAN_CHECK;
      SP_TRY(sp_push(out, &sub, b0, b1, cls));
    }
  }
  return sp_merge_regions(out, qt, mid, split, SP_MERGE_UNION);
}

static sparsa_status sp_global_spans(const sparsa_pattern *p, const sp_span_prep *pr,
                                     const sp_qtile *qt, sp_spans *out) {
  const sp_tiling *t = qt->t;
  int64_t rows_in = pr->rows_in[qt->q0 >> t->q_shift];
  if (rows_in == qt->P1 - qt->P0 + 1) return sp_push(out, qt, 0, t->num_kv_blocks, SP_SPAN_FULL);
  /* No global row: the global columns' blocks, those before hull_end (the
   * runs wholly before it as prepared, then the one it cuts, if any). */
  if (rows_in == 0) {
    if (out->n != qt->base)
      return sp_column_runs(pr, qt, qt->hull_end >= t->num_kv_blocks ? INT64_MAX
                                                                      : (qt->hull_end << t->kv_shift) - 1,
                            out);
    int64_t whole = pr->runs_ending_by[qt->hull_end];
    SP_TRY(sp_spans_reserve(out, whole + 1));
    memcpy(out->v + out->n, pr->run_span, (size_t)whole * sizeof(sp_span));
    out->n += whole;
    if (whole < pr->num_runs && pr->run_span[whole].b0 < qt->hull_end)
      SP_TRY(sp_push(out, qt, pr->run_span[whole].b0, qt->hull_end, (int)pr->run_span[whole].cls));
    return SPARSA_OK;
  }
  /* A global row sees every block; blocks of global columns only are full. */
  int64_t prev = 0;
  for (int64_t r = 0; r < pr->num_runs; r++) {
    int64_t i0 = pr->run_start[r];
    if (pr->cls[i0] != SP_SPAN_FULL) continue;
    SP_TRY(sp_push(out, qt, prev, pr->block[i0], SP_SPAN_PARTIAL));
    prev = pr->block[pr->run_end[r] - 1] + 1;
    SP_TRY(sp_push(out, qt, pr->block[i0], prev, SP_SPAN_FULL));
  }
  return sp_push(out, qt, prev, t->num_kv_blocks, SP_SPAN_PARTIAL);
}

static sparsa_status sp_blocks_spans(const sparsa_pattern *p, const sp_qtile *qt,
                                     sp_spans *out) {
  const sp_bsr *b = &p->bsr;
  int64_t r0 = qt->q0 / b->block_rows, r1 = (qt->q1 - 1) / b->block_rows;
  int64_t rlast = sp_min64(r1, b->num_row_blocks - 1);
  int single = r0 == r1;
  int64_t base = out->n;
  for (int64_t r = r0; r <= rlast; r++) {
    const int32_t *col = b->col + b->row_ptr[r];
    int64_t n = b->row_ptr[r + 1] - b->row_ptr[r];
    for (int64_t k = 0; k < n;) {
      /* A run of consecutive tile columns is one token range. */
      int64_t first = col[k], last = col[k];
      while (k + 1 < n && col[k + 1] == last + 1) last = col[++k];
      k++;
      int64_t j0 = first * b->block_cols, j1 = (last + 1) * b->block_cols - 1, cb0, cb1;
      if (!sp_token_blocks(qt, j0, j1, &cb0, &cb1)) continue;
      if (!single) {
        SP_TRY(sp_spans_reserve(out, 1));
        out->v[out->n++] = (sp_span){cb0, cb1, SP_SPAN_CHECK};
        continue;
      }
      /* One tile row covers the query block: blocks inside the run are full. */
      SP_TRY(sp_range_spans(qt, j0, j1, j0, j1, SP_SPAN_PARTIAL, SP_SPAN_FULL, out));
    }
  }
  if (!single) sp_normalize_checks(out, base);
  return SPARSA_OK;
}

/* Exact spans of the queries [q0, q1), which lie in one grid row: the outer
 * axes' windows are exact (keys on their residue, every g-th coordinate),
 * and along the row (dilation 1) the windows of consecutive queries shift
 * by at most one, so their union and their intersection are intervals. */
static sparsa_status sp_nbhd_row_spans(const sp_nbhd *nb, const sp_qtile *qt, int64_t q0,
                                       int64_t q1, sp_spans *out) {
  int64_t S0 = nb->stride[0], S1 = nb->stride[1], L1 = nb->extent[1], L2 = nb->extent[2];
  sp_axis_window w0 = sp_nbhd_axis_window(nb, 0, q0 / S0);
  sp_axis_window w1 = sp_nbhd_axis_window(nb, 1, (q0 / S1) % L1);
  sp_axis_window first = sp_nbhd_axis_window(nb, 2, q0 % L2);
  sp_axis_window last = sp_nbhd_axis_window(nb, 2, (q1 - 1) % L2);
  int64_t g0 = nb->dilation[0], g1 = nb->dilation[1];
  for (int64_t c0 = w0.lo; c0 <= w0.hi; c0++)
    for (int64_t c1 = w1.lo; c1 <= w1.hi; c1++) {
      int64_t row = (c0 * g0 + w0.residue) * S0 + (c1 * g1 + w1.residue) * S1;
      SP_TRY(sp_range_spans(qt, row + first.lo, row + last.hi, row + last.lo, row + first.hi,
                            SP_SPAN_PARTIAL, SP_SPAN_FULL, out));
    }
  return SPARSA_OK;
}

static sparsa_status sp_nbhd_spans(const sparsa_pattern *p, const sp_qtile *qt, sp_spans *out) {
  const sp_nbhd *nb = &p->nbhd;
  int64_t x0[3], x1[3], y0[3], y1[3];
  if (nb->dilation[2] == 1) {
    /* Row by row: a block is full if every row segment fills it, listed if
     * any segment sees it. */
    int64_t L2 = nb->extent[2], base = out->n;
    for (int64_t s0 = qt->q0; s0 < qt->q1;) {
      int64_t s1 = sp_min64(s0 - s0 % L2 + L2, qt->q1), split = out->n;
      sp_qtile sub = *qt;
      sub.base = split;
      SP_TRY(sp_nbhd_row_spans(nb, &sub, s0, s1, out));
      if (s0 > qt->q0) SP_TRY(sp_merge_regions(out, qt, base, split, SP_MERGE_ROWS));
      s0 = s1;
    }
    return SPARSA_OK;
  }
  for (int a = 0; a < 3; a++) sp_nbhd_projection(nb, a, qt->q0, qt->q1 - 1, &x0[a], &x1[a]);
  for (int a = 0; a < 3; a++) {
    if (x0[a] == x1[a]) {
      sp_axis_window w = sp_nbhd_axis_window(nb, a, x0[a]);
      y0[a] = w.lo * nb->dilation[a] + w.residue;
      y1[a] = w.hi * nb->dilation[a] + w.residue;
    } else {
      sp_nbhd_key_bounds(nb, a, x0[a], x1[a], &y0[a], &y1[a]);
    }
    if (y0[a] > y1[a]) return SPARSA_OK;
  }
  for (int64_t c0 = y0[0]; c0 <= y1[0]; c0++)
    for (int64_t c1 = y0[1]; c1 <= y1[1]; c1++) {
      int64_t row = c0 * nb->stride[0] + c1 * nb->stride[1], b0, b1;
      if (sp_token_blocks(qt, row + y0[2], row + y1[2], &b0, &b1))
        SP_TRY(sp_push(out, qt, b0, b1, SP_SPAN_CHECK));
    }
  return SPARSA_OK;
}

/* Exact spans of the aligned positions [P0, P1], which lie in one query
 * frame: its positions are contiguous, so in each key frame the keys some
 * query sees form one interval and those every query sees another. */
static sparsa_status sp_radial_frame_spans(const sparsa_pattern *p, const sp_qtile *qt, int64_t P0,
                                           int64_t P1, int64_t frames_end, sp_spans *out) {
  int64_t F = p->u.radial.frame_tokens, M = sp_cap(p->u.radial.max_frames);
  int64_t fp = sp_floor_div(P0, F), qs0 = P0 - fp * F, qs1 = qs0 + (P1 - P0);
  int64_t last_frame = sp_min64((qt->t->g.kv_len - 1) / F, frames_end - 1);
  for (int64_t fj = sp_max64(fp - M, 0); fj <= sp_min64(fp + M, last_frame); fj++) {
    int64_t f = fj > fp ? fj - fp : fp - fj, base = fj * F;
    int64_t w = sp_radial_width(p->u.radial.window, f);
    SP_TRY(sp_range_spans(qt, base + sp_frame_low(qs0, w), base + sp_frame_high(qs1, w, F),
                          base + sp_frame_low(qs1, w), base + sp_frame_high(qs0, w, F),
                          SP_SPAN_PARTIAL, SP_SPAN_FULL, out));
  }
  return SPARSA_OK;
}

static sparsa_status sp_radial_spans(const sparsa_pattern *p, const sp_qtile *qt,
                                     sp_spans *out) {
  int64_t F = p->u.radial.frame_tokens, M = sp_cap(p->u.radial.max_frames);
  int64_t fp0 = sp_floor_div(qt->P0, F), fp1 = sp_floor_div(qt->P1, F);
  if (fp0 == fp1) return sp_radial_frame_spans(p, qt, qt->P0, qt->P1, INT64_MAX, out);
  if (fp1 == fp0 + 1) {
    /* Straddling two frames: each part exactly, a block full only if both
     * parts fill it. */
    int64_t cut = fp1 * F, base = out->n;
    SP_TRY(sp_radial_frame_spans(p, qt, qt->P0, cut - 1, INT64_MAX, out));
    int64_t split = out->n;
    sp_qtile sub = *qt;
    sub.base = split;
    SP_TRY(sp_radial_frame_spans(p, &sub, cut, qt->P1, INT64_MAX, out));
    return sp_merge_regions(out, qt, base, split, SP_MERGE_ROWS);
  }
  /* Frames shorter than the query block: the block's queries cover whole
   * frames, so each key frame in reach is a candidate as a whole. */
  int64_t last_frame = (qt->t->g.kv_len - 1) / F, b0, b1;
  int64_t f0 = sp_max64(fp0 - M, 0), f1 = sp_min64(fp1 + M, last_frame);
  if (f0 <= f1 && sp_token_blocks(qt, f0 * F, (f1 + 1) * F - 1, &b0, &b1))
    SP_TRY(sp_push(out, qt, b0, b1, SP_SPAN_CHECK));
  return SPARSA_OK;
}

static sparsa_status sp_spans_at(const sparsa_pattern *p, const sp_span_prep *pr,
                                 const sp_qtile *qt, sp_spans *out);

static sparsa_status sp_combination_spans(const sparsa_pattern *p, const sp_span_prep *pr,
                                          const sp_qtile *qt, sp_spans *out) {
  sp_merge_op op = p->kind == SPARSA_PATTERN_UNION ? SP_MERGE_UNION : SP_MERGE_INTERSECTION;
  int64_t base = out->n;
  sp_qtile sub = *qt;
  /* An intersection's result does not depend on the order of its parts
   * (its merge is symmetric and associative, block by block): it takes
   * them in the prepared order, each within what the earlier ones left. */
  for (int32_t n = 0; n < p->num_parts; n++) {
    int32_t k = pr->part_order != NULL ? pr->part_order[n] : n;
    int64_t split = out->n;
    sub.base = split;
    SP_TRY(sp_spans_at(p->parts[k], &pr->parts[k], &sub, out));
    if (n > 0) SP_TRY(sp_merge_regions(out, qt, base, split, op));
    if (op == SP_MERGE_INTERSECTION) {
      if (out->n == base) break;
      sub.hull_end = sp_min64(sub.hull_end, out->v[out->n - 1].b1);
    }
  }
  return SPARSA_OK;
}

static sparsa_status sp_spans_at(const sparsa_pattern *p, const sp_span_prep *pr,
                                 const sp_qtile *qt, sp_spans *out) {
  switch (p->kind) {
    case SPARSA_PATTERN_DENSE: return sp_push(out, qt, 0, qt->t->num_kv_blocks, SP_SPAN_FULL);
    case SPARSA_PATTERN_NONE: return SPARSA_OK;
    case SPARSA_PATTERN_CAUSAL:
      return sp_band_spans(qt, 0, SP_EXTENT_CAP, SP_SPAN_PARTIAL, SP_SPAN_FULL, out);
    case SPARSA_PATTERN_WINDOW:
      return sp_band_spans(qt, -sp_cap(p->u.win.right), sp_cap(p->u.win.left), SP_SPAN_PARTIAL,
                           SP_SPAN_FULL, out);
    case SPARSA_PATTERN_DILATED: return sp_dilated_spans(p, qt, out);
    case SPARSA_PATTERN_SINK_WINDOW: return sp_sink_spans(p, qt, out);
    case SPARSA_PATTERN_POWER: return sp_power_spans(p, qt, out);
    case SPARSA_PATTERN_VERTICAL_SLASH: return sp_vslash_spans(p, pr, qt, out);
    case SPARSA_PATTERN_GLOBAL: return sp_global_spans(p, pr, qt, out);
    case SPARSA_PATTERN_BLOCKS: return sp_blocks_spans(p, qt, out);
    case SPARSA_PATTERN_NEIGHBORHOOD: return sp_nbhd_spans(p, qt, out);
    case SPARSA_PATTERN_RADIAL: return sp_radial_spans(p, qt, out);
    case SPARSA_PATTERN_UNION:
    case SPARSA_PATTERN_INTERSECTION: return sp_combination_spans(p, pr, qt, out);
  }
  return sp_fail(SPARSA_ERR_INTERNAL, "mask building: pattern kind %d unknown", (int)p->kind);
}

static sp_qtile sp_qtile_at(const sp_tiling *t, int64_t qb, const sp_spans *out) {
  sp_qtile qt;
  qt.t = t;
  qt.q0 = qb * t->block_q;
  qt.q1 = sp_min64(qt.q0 + t->block_q, t->g.q_len);
  qt.P0 = qt.q0 + t->g.off;
  qt.P1 = qt.q1 - 1 + t->g.off;
  qt.base = out->n;
  qt.hull_end = t->num_kv_blocks;
  return qt;
}

sparsa_status sp_pattern_head_spans(const sparsa_pattern *p, const sp_tiling *t, int64_t qb,
                                    int64_t head, sp_spans *out) {
  sp_qtile qt = sp_qtile_at(t, qb, out);
  if (p->kind == SPARSA_PATTERN_POWER) {
    /* The row's spans cut at the head (the powers of two stop there). */
    const int64_t base = out->n;
    qt.hull_end = head;
    SP_TRY(sp_spans_at(p, NULL, &qt, out));
    int64_t n = base;
    while (n < out->n && out->v[n].b0 < head) {
      if (out->v[n].b1 > head) out->v[n].b1 = head;
      n++;
    }
    out->n = n;
    return SPARSA_OK;
  }
  if (p->kind != SPARSA_PATTERN_RADIAL)
    return sp_fail(SPARSA_ERR_INTERNAL, "mask building: no head spans for pattern kind %d",
                   (int)p->kind);
  /* Whole frames: a translation's head ends on a frame boundary (the
   * translation checked that the block lies in one frame). */
  int64_t frames = head * t->block_kv / p->u.radial.frame_tokens;
  return sp_radial_frame_spans(p, &qt, qt.P0, qt.P1, frames, out);
}

sparsa_status sp_pattern_spans(const sparsa_pattern *p, const sp_span_prep *prep,
                               const sp_tiling *t, int64_t qb, sp_spans *out) {
  sp_qtile qt = sp_qtile_at(t, qb, out);
  return sp_spans_at(p, prep, &qt, out);
}
