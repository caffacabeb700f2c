/* Classification of one tile [q0, q1) x [k0, k1) as empty, full or partial
 * without looking at its tokens.
 *
 * A tile's pairs cover every distance d = p - j between dmin = P0 - (k1 - 1)
 * and dmax = P1 - k0 (P0, P1: aligned positions of its first and last
 * rows), so distance-based kinds are decided exactly by interval
 * arithmetic; set-based kinds count listed elements in the tile's ranges by
 * binary search. Neighborhoods and radial patterns reason on per-axis
 * bounding boxes: sound, but a PARTIAL tile may hold no visible pair. */
#include <stdlib.h>

#include "pattern_internal.h"

typedef struct sp_tile {
  int64_t q0, q1, k0, k1; /* half-open */
  int64_t P0, P1;         /* aligned positions of the first and last rows */
  int64_t dmin, dmax;
} sp_tile;

static sp_block_class sp_band_class(const sp_tile *t, int64_t lo, int64_t hi) {
  if (t->dmax < lo || t->dmin > hi) return SP_BLOCK_EMPTY;
  if (t->dmin >= lo && t->dmax <= hi) return SP_BLOCK_FULL;
  return SP_BLOCK_PARTIAL;
}

static int64_t sp_ceil_div_pos(int64_t a, int64_t b) { /* b > 0, any a */
  return -sp_floor_div(-a, b);
}

static sp_block_class sp_dilated_class(const sparsa_pattern *p, const sp_tile *t) {
  int64_t lo = -sp_cap(p->u.win.right), hi = sp_cap(p->u.win.left), g = p->u.win.dilation;
  int64_t a = sp_max64(t->dmin, lo), b = sp_min64(t->dmax, hi);
  if (a > b) return SP_BLOCK_EMPTY;
  if (sp_ceil_div_pos(a, g) * g > b) return SP_BLOCK_EMPTY;
  if (t->dmin >= lo && t->dmax <= hi && (g == 1 || (t->dmin == t->dmax && t->dmin % g == 0)))
    return SP_BLOCK_FULL;
  return SP_BLOCK_PARTIAL;
}

static sp_block_class sp_sink_class(const sparsa_pattern *p, const sp_tile *t) {
  int64_t sink = sp_cap(p->u.sink.sink), window = sp_cap(p->u.sink.window);
  int sink_part = t->k0 < sink && t->dmax >= 0; /* key k0 is a sink seen by the last row */
  int window_part = sp_max64(t->dmin, 0) <= sp_min64(t->dmax, window - 1);
  if (!sink_part && !window_part) return SP_BLOCK_EMPTY;
  /* Every pair is visible unless some non-sink key is window or more away. */
  if (t->dmin >= 0 && !(t->k1 > sink && t->P1 - sp_max64(t->k0, sink) >= window))
    return SP_BLOCK_FULL;
  return SP_BLOCK_PARTIAL;
}

static sp_block_class sp_power_class(const sparsa_pattern *p, const sp_tile *t) {
  int64_t local = sp_cap(p->u.power.local);
  int64_t a = sp_max64(t->dmin, 0);
  if (a > t->dmax) return SP_BLOCK_EMPTY;
  int nonempty = a < local;
  if (!nonempty) {
    int64_t pw = a <= 1 ? 1 : (int64_t)1 << (64 - __builtin_clzll((unsigned long long)(a - 1)));
    nonempty = pw <= t->dmax;
  }
  if (!nonempty) return SP_BLOCK_EMPTY;
  if (t->dmin >= 0) {
    /* Among three consecutive integers >= local >= 0 one is not a power of two. */
    int64_t first = sp_max64(t->dmin, local);
    if (t->dmax - first < 2) {
      int all = 1;
      for (int64_t d = first; d <= t->dmax; d++) all &= sp_is_pow2(d);
      if (all) return SP_BLOCK_FULL;
    }
  }
  return SP_BLOCK_PARTIAL;
}

static sp_block_class sp_vslash_class(const sparsa_pattern *p, const sp_tile *t) {
  int64_t cols_seen = sp_index_count(&p->set_a, t->k0, sp_min64(t->k1 - 1, t->P1));
  int64_t diags_seen = sp_index_count(&p->set_b, sp_max64(t->dmin, 0), t->dmax);
  if (cols_seen == 0 && diags_seen == 0) return SP_BLOCK_EMPTY;
  if (t->dmin >= 0 && (sp_index_count(&p->set_a, t->k0, t->k1 - 1) == t->k1 - t->k0 ||
                       diags_seen == t->dmax - t->dmin + 1))
    return SP_BLOCK_FULL;
  return SP_BLOCK_PARTIAL;
}

static sp_block_class sp_global_class(const sparsa_pattern *p, const sp_tile *t) {
  int64_t rows_in = sp_index_count(&p->set_a, t->P0, t->P1);
  int64_t cols_in = sp_index_count(&p->set_a, t->k0, t->k1 - 1);
  if (rows_in == 0 && cols_in == 0) return SP_BLOCK_EMPTY;
  /* A pair is hidden only if neither its row nor its column is global. */
  if (rows_in == t->P1 - t->P0 + 1 || cols_in == t->k1 - t->k0) return SP_BLOCK_FULL;
  return SP_BLOCK_PARTIAL;
}

static int64_t sp_bsr_row_count(const sp_bsr *b, int64_t r, int64_t c0, int64_t c1) {
  const int32_t *row = b->col + b->row_ptr[r];
  int64_t n = b->row_ptr[r + 1] - b->row_ptr[r];
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (row[mid] < c0)
      lo = mid + 1;
    else
      hi = mid;
  }
  int64_t first = lo;
  hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (row[mid] <= c1)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - first;
}

static sp_block_class sp_blocks_class(const sparsa_pattern *p, const sp_tile *t) {
  const sp_bsr *b = &p->bsr;
  int64_t r0 = t->q0 / b->block_rows, r1 = (t->q1 - 1) / b->block_rows;
  int64_t c0 = t->k0 / b->block_cols, c1 = (t->k1 - 1) / b->block_cols;
  int64_t rows_listed = sp_min64(r1, b->num_row_blocks - 1);
  int64_t listed = 0;
  for (int64_t r = r0; r <= rows_listed; r++) listed += sp_bsr_row_count(b, r, c0, c1);
  if (listed == 0) return SP_BLOCK_EMPTY;
  if (r1 < b->num_row_blocks && listed == (r1 - r0 + 1) * (c1 - c0 + 1)) return SP_BLOCK_FULL;
  return SP_BLOCK_PARTIAL;
}

void sp_nbhd_projection(const sp_nbhd *nb, int a, int64_t t0, int64_t t1, int64_t *c0,
                               int64_t *c1) {
  int64_t S = nb->stride[a], L = nb->extent[a];
  if ((t0 / S) / L != (t1 / S) / L) {
    *c0 = 0;
    *c1 = L - 1;
  } else {
    *c0 = (t0 / S) % L;
    *c1 = (t1 / S) % L;
  }
}

/* Window starts and ends never decrease as the query moves forward within
 * a residue class, and the sub-grid length only shrinks with the residue:
 * the extreme queries bound the union of windows. */
void sp_nbhd_key_bounds(const sp_nbhd *nb, int a, int64_t x0, int64_t x1, int64_t *y0,
                        int64_t *y1) {
  int64_t L = nb->extent[a], k = nb->kernel[a], g = nb->dilation[a];
  int64_t lo, hi;
  if (nb->causal[a]) {
    lo = sp_max64(x0 / g - k + 1, 0);
    hi = x1 / g;
  } else {
    int64_t rmax = sp_min64(g - 1, L - 1);
    int64_t n_min = (L - rmax + g - 1) / g, n_max = (L + g - 1) / g;
    lo = sp_min64(sp_max64(x0 / g - k / 2, 0), sp_max64(n_min - k, 0));
    hi = sp_min64(sp_min64(sp_max64(x1 / g - k / 2, 0), sp_max64(n_max - k, 0)) + k, n_max) - 1;
  }
  *y0 = lo * g;
  *y1 = sp_min64(hi * g + g - 1, L - 1);
}

static int sp_axis_pair_visible(const sp_nbhd *nb, int a, int64_t x, int64_t y) {
  sp_axis_window w = sp_nbhd_axis_window(nb, a, x);
  int64_t g = nb->dilation[a];
  return y % g == w.residue && y / g >= w.lo && y / g <= w.hi;
}

static sp_block_class sp_nbhd_class(const sparsa_pattern *p, const sp_tile *t) {
  const sp_nbhd *nb = &p->nbhd;
  int full = 1;
  for (int a = 0; a < 3; a++) {
    int64_t x0, x1, y0, y1, b0, b1;
    sp_nbhd_projection(nb, a, t->q0, t->q1 - 1, &x0, &x1);
    sp_nbhd_projection(nb, a, t->k0, t->k1 - 1, &y0, &y1);
    int64_t g = nb->dilation[a];
    if (x0 == x1) {
      /* One query coordinate: its window exactly, residue included. */
      sp_axis_window w = sp_nbhd_axis_window(nb, a, x0);
      int64_t A = sp_max64(y0, w.lo * g + w.residue), B = sp_min64(y1, w.hi * g + w.residue);
      int64_t first = A + sp_floor_mod(w.residue - A, g);
      if (first > B) return SP_BLOCK_EMPTY;
    } else {
      sp_nbhd_key_bounds(nb, a, x0, x1, &b0, &b1);
      if (y1 < b0 || y0 > b1) return SP_BLOCK_EMPTY;
    }
    if (!full) continue;
    if (g == 1) {
      sp_axis_window first = sp_nbhd_axis_window(nb, a, x0), last = sp_nbhd_axis_window(nb, a, x1);
      full = last.lo <= y0 && y1 <= first.hi;
    } else {
      full = x0 == x1 && y0 == y1 && sp_axis_pair_visible(nb, a, x0, y0);
    }
  }
  return full ? SP_BLOCK_FULL : SP_BLOCK_PARTIAL;
}

static sp_block_class sp_radial_class(const sparsa_pattern *p, const sp_tile *t) {
  int64_t F = p->u.radial.frame_tokens, W = p->u.radial.window, M = p->u.radial.max_frames;
  int64_t fp0 = sp_floor_div(t->P0, F), fp1 = sp_floor_div(t->P1, F);
  int64_t fj0 = t->k0 / F, fj1 = (t->k1 - 1) / F;
  int64_t qs0 = 0, qs1 = F - 1, ks0 = 0, ks1 = F - 1;
  if (fp0 == fp1) {
    qs0 = sp_floor_mod(t->P0, F);
    qs1 = sp_floor_mod(t->P1, F);
  }
  if (fj0 == fj1) {
    ks0 = t->k0 % F;
    ks1 = (t->k1 - 1) % F;
  }
  int64_t fmin = sp_max64(0, sp_max64(fj0 - fp1, fp0 - fj1));
  int64_t fmax = sp_max64(llabs(fj1 - fp0), llabs(fp1 - fj0));
  int64_t smin = sp_max64(0, sp_max64(ks0 - qs1, qs0 - ks1));
  int64_t smax = sp_max64(llabs(ks1 - qs0), llabs(qs1 - ks0));
  if (fmin > M || smin > sp_radial_width(W, fmin)) return SP_BLOCK_EMPTY;
  /* The width never grows with the frame distance. */
  if (fmax <= M && smax <= sp_radial_width(W, fmax)) return SP_BLOCK_FULL;
  return SP_BLOCK_PARTIAL;
}

sp_block_class sp_pattern_classify(const sparsa_pattern *p, const sp_geom *g, int64_t q0,
                                   int64_t q1, int64_t k0, int64_t k1) {
  sp_tile t;
  t.q0 = q0;
  t.q1 = q1;
  t.k0 = k0;
  t.k1 = k1;
  t.P0 = q0 + g->off;
  t.P1 = q1 - 1 + g->off;
  t.dmin = t.P0 - (k1 - 1);
  t.dmax = t.P1 - k0;
  switch (p->kind) {
    case SPARSA_PATTERN_DENSE: return SP_BLOCK_FULL;
    case SPARSA_PATTERN_NONE: return SP_BLOCK_EMPTY;
    case SPARSA_PATTERN_CAUSAL: return sp_band_class(&t, 0, SP_EXTENT_CAP);
    case SPARSA_PATTERN_WINDOW:
      return sp_band_class(&t, -sp_cap(p->u.win.right), sp_cap(p->u.win.left));
    case SPARSA_PATTERN_DILATED: return sp_dilated_class(p, &t);
    case SPARSA_PATTERN_SINK_WINDOW: return sp_sink_class(p, &t);
    case SPARSA_PATTERN_POWER: return sp_power_class(p, &t);
    case SPARSA_PATTERN_VERTICAL_SLASH: return sp_vslash_class(p, &t);
    case SPARSA_PATTERN_GLOBAL: return sp_global_class(p, &t);
    case SPARSA_PATTERN_BLOCKS: return sp_blocks_class(p, &t);
    case SPARSA_PATTERN_NEIGHBORHOOD: return sp_nbhd_class(p, &t);
    case SPARSA_PATTERN_RADIAL: return sp_radial_class(p, &t);
    case SPARSA_PATTERN_UNION: {
      sp_block_class best = SP_BLOCK_EMPTY;
      for (int32_t k = 0; k < p->num_parts && best != SP_BLOCK_FULL; k++) {
        sp_block_class c = sp_pattern_classify(p->parts[k], g, q0, q1, k0, k1);
        if (c > best) best = c;
      }
      return best;
    }
    case SPARSA_PATTERN_INTERSECTION: {
      sp_block_class worst = SP_BLOCK_FULL;
      for (int32_t k = 0; k < p->num_parts && worst != SP_BLOCK_EMPTY; k++) {
        sp_block_class c = sp_pattern_classify(p->parts[k], g, q0, q1, k0, k1);
        if (c < worst) worst = c;
      }
      return worst;
    }
  }
  return SP_BLOCK_PARTIAL;
}
