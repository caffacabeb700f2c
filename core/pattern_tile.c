/* Token-level refinement of one tile into 0/1 bytes, for the partial blocks
 * engines compute. Each kind writes whole intervals per row (window-like
 * kinds are one or two memsets per row), looks up only the listed columns
 * or diagonals that fall in the tile, or walks key frames / grid rows as
 * segments; no kind evaluates the scalar rule per element. */
#include <string.h>

#include "pattern_internal.h"

enum { SP_TILE_SCRATCH = 4096 };

typedef struct sp_row {
  uint8_t *out;
  int64_t k0, k1; /* columns [k0, k1) */
} sp_row;

/* Sets the columns of [j0, j1] (inclusive) that fall in the row. */
static inline void sp_row_fill(const sp_row *r, int64_t j0, int64_t j1) {
  if (j0 < r->k0) j0 = r->k0;
  if (j1 > r->k1 - 1) j1 = r->k1 - 1;
  if (j0 <= j1) memset(r->out + (j0 - r->k0), 1, (size_t)(j1 - j0 + 1));
}

static void sp_row_clear(const sp_row *r) { memset(r->out, 0, (size_t)(r->k1 - r->k0)); }

/* Sets every g-th column of [j0, j1] whose distance to pos is a multiple of g. */
static void sp_row_fill_step(const sp_row *r, int64_t pos, int64_t j0, int64_t j1, int64_t g) {
  if (j0 < r->k0) j0 = r->k0;
  if (j1 > r->k1 - 1) j1 = r->k1 - 1;
  if (j0 > j1) return;
  int64_t first = j0 + sp_floor_mod(pos - j0, g);
  for (int64_t j = first; j <= j1; j += g) r->out[j - r->k0] = 1;
}

/* Rows at global positions see everything; every other row is the same
 * set of global columns, written once and copied. */
static void sp_global_tile(const sparsa_pattern *p, const sp_geom *g, int64_t q0, int64_t nq,
                           int64_t k0, int64_t nk, uint8_t *out, int64_t ld) {
  const uint8_t *columns_row = NULL;
  for (int64_t r = 0; r < nq; r++) {
    uint8_t *row = out + r * ld;
    if (sp_index_has(&p->set_a, q0 + r + g->off)) {
      memset(row, 1, (size_t)nk);
    } else if (columns_row != NULL) {
      memcpy(row, columns_row, (size_t)nk);
    } else {
      memset(row, 0, (size_t)nk);
      for (int64_t k = sp_index_lower(&p->set_a, k0); k < p->set_a.n && p->set_a.v[k] < k0 + nk; k++)
        row[p->set_a.v[k] - k0] = 1;
      columns_row = row;
    }
  }
}

/* The listed columns of the tile, written once into the first row and
 * copied causally into the others; then each row's diagonals. */
static void sp_vslash_tile(const sparsa_pattern *p, const sp_geom *g, int64_t q0, int64_t nq,
                           int64_t k0, int64_t nk, uint8_t *out, int64_t ld) {
  const sp_index_set *c = &p->set_a, *o = &p->set_b;
  uint8_t *columns = out; /* row 0 holds every listed column until its own pass */
  memset(columns, 0, (size_t)nk);
  for (int64_t k = sp_index_lower(c, k0); k < c->n && c->v[k] < k0 + nk; k++) columns[c->v[k] - k0] = 1;
  for (int64_t r = nq - 1; r >= 0; r--) { /* row 0 last: it is the template */
    uint8_t *row = out + r * ld;
    int64_t pos = q0 + r + g->off;
    int64_t seen = sp_max64(0, sp_min64(nk, pos - k0 + 1)); /* causal: keys <= pos */
    if (r > 0 && seen > 0) memcpy(row, columns, (size_t)seen);
    memset(row + seen, 0, (size_t)(nk - seen));
    /* Diagonals d with key pos - d in [k0, k0 + seen). */
    if (seen > 0)
      for (int64_t k = sp_index_lower(o, pos - (k0 + seen - 1)); k < o->n && o->v[k] <= pos - k0; k++)
        row[pos - o->v[k] - k0] = 1;
  }
}

static void sp_power_row(const sparsa_pattern *p, const sp_row *r, int64_t pos) {
  sp_row_clear(r);
  int64_t local = sp_cap(p->u.power.local);
  if (local > 0) sp_row_fill(r, pos - (local - 1), pos);
  for (int t = 0; t < 62; t++) {
    int64_t d = (int64_t)1 << t;
    int64_t j = pos - d;
    if (j < r->k0) break;
    if (j < r->k1) r->out[j - r->k0] = 1;
  }
}

static void sp_blocks_row(const sp_bsr *b, const sp_row *r, int64_t i) {
  sp_row_clear(r);
  int64_t br = i / b->block_rows;
  if (br >= b->num_row_blocks) return;
  const int32_t *col = b->col;
  int64_t lo = b->row_ptr[br], hi = b->row_ptr[br + 1], end = hi;
  int64_t c_first = r->k0 / b->block_cols;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (col[mid] < c_first)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (int64_t k = lo; k < end && (int64_t)col[k] * b->block_cols < r->k1; k++)
    sp_row_fill(r, (int64_t)col[k] * b->block_cols, ((int64_t)col[k] + 1) * b->block_cols - 1);
}

static void sp_nbhd_row(const sp_nbhd *nb, const sp_row *r, int64_t i) {
  sp_row_clear(r);
  sp_axis_window w[3];
  for (int a = 0; a < 3; a++) w[a] = sp_nbhd_axis_window(nb, a, (i / nb->stride[a]) % nb->extent[a]);
  int64_t L2 = nb->extent[2], g2 = nb->dilation[2];
  for (int64_t j = r->k0; j < r->k1;) {
    int64_t y2 = j % L2, seg_end = sp_min64(j - y2 + L2, r->k1); /* one grid row */
    int ok = 1;
    for (int a = 0; a < 2 && ok; a++) {
      int64_t y = (j / nb->stride[a]) % nb->extent[a], g = nb->dilation[a];
      ok = y % g == w[a].residue && y / g >= w[a].lo && y / g <= w[a].hi;
    }
    if (ok) {
      int64_t row0 = j - y2;
      sp_row seg = {r->out + (j - r->k0), j, seg_end};
      int64_t lo = row0 + w[2].lo * g2 + w[2].residue, hi = row0 + w[2].hi * g2 + w[2].residue;
      if (g2 == 1)
        sp_row_fill(&seg, lo, hi);
      else
        sp_row_fill_step(&seg, row0 + w[2].residue, lo, hi, g2);
    }
    j = seg_end;
  }
}

static void sp_radial_row(const sparsa_pattern *p, const sp_row *r, int64_t pos) {
  sp_row_clear(r);
  int64_t F = p->u.radial.frame_tokens;
  int64_t fp = sp_floor_div(pos, F), sp = sp_floor_mod(pos, F);
  for (int64_t j = r->k0; j < r->k1;) {
    int64_t fj = j / F, frame0 = fj * F, seg_end = sp_min64(frame0 + F, r->k1);
    int64_t f = fp > fj ? fp - fj : fj - fp;
    if (f <= p->u.radial.max_frames) {
      int64_t w = sp_radial_width(p->u.radial.window, f);
      sp_row seg = {r->out + (j - r->k0), j, seg_end};
      sp_row_fill(&seg, frame0 + sp_frame_low(sp, w), frame0 + sp_frame_high(sp, w, F));
    }
    j = seg_end;
  }
}

static void sp_combine_tile(const sparsa_pattern *p, const sp_geom *g, int64_t q0, int64_t nq,
                            int64_t k0, int64_t nk, uint8_t *out, int64_t ld) {
  int is_union = p->kind == SPARSA_PATTERN_UNION;
  sp_pattern_tile(p->parts[0], g, q0, nq, k0, nk, out, ld);
  uint8_t tmp[SP_TILE_SCRATCH];
  int64_t cn = sp_min64(nk, SP_TILE_SCRATCH), rn = SP_TILE_SCRATCH / cn;
  for (int32_t k = 1; k < p->num_parts; k++)
    for (int64_t r0 = 0; r0 < nq; r0 += rn)
      for (int64_t c0 = 0; c0 < nk; c0 += cn) {
        int64_t rows = sp_min64(rn, nq - r0), cols = sp_min64(cn, nk - c0);
        sp_pattern_tile(p->parts[k], g, q0 + r0, rows, k0 + c0, cols, tmp, cols);
        for (int64_t r = 0; r < rows; r++) {
          uint8_t *dst = out + (r0 + r) * ld + c0;
          const uint8_t *src = tmp + r * cols;
          if (is_union)
            for (int64_t c = 0; c < cols; c++) dst[c] |= src[c];
          else
            for (int64_t c = 0; c < cols; c++) dst[c] &= src[c];
        }
      }
}

void sp_pattern_tile(const sparsa_pattern *p, const sp_geom *g, int64_t q0, int64_t nq,
                     int64_t k0, int64_t nk, uint8_t *out, int64_t ld) {
  if (nq <= 0 || nk <= 0) return;
  if (p->kind == SPARSA_PATTERN_UNION || p->kind == SPARSA_PATTERN_INTERSECTION) {
    sp_combine_tile(p, g, q0, nq, k0, nk, out, ld);
    return;
  }
  if (p->kind == SPARSA_PATTERN_GLOBAL) {
    sp_global_tile(p, g, q0, nq, k0, nk, out, ld);
    return;
  }
  if (p->kind == SPARSA_PATTERN_VERTICAL_SLASH) {
    sp_vslash_tile(p, g, q0, nq, k0, nk, out, ld);
    return;
  }
  for (int64_t r = 0; r < nq; r++) {
    int64_t i = q0 + r, pos = i + g->off;
    sp_row row = {out + r * ld, k0, k0 + nk};
    switch (p->kind) {
      case SPARSA_PATTERN_DENSE: memset(row.out, 1, (size_t)nk); break;
      case SPARSA_PATTERN_NONE: sp_row_clear(&row); break;
      case SPARSA_PATTERN_CAUSAL:
        sp_row_clear(&row);
        sp_row_fill(&row, k0, pos);
        break;
      case SPARSA_PATTERN_WINDOW:
        sp_row_clear(&row);
        sp_row_fill(&row, pos - sp_cap(p->u.win.left), pos + sp_cap(p->u.win.right));
        break;
      case SPARSA_PATTERN_DILATED:
        sp_row_clear(&row);
        sp_row_fill_step(&row, pos, pos - sp_cap(p->u.win.left), pos + sp_cap(p->u.win.right),
                         p->u.win.dilation);
        break;
      case SPARSA_PATTERN_SINK_WINDOW:
        sp_row_clear(&row);
        sp_row_fill(&row, 0, sp_min64(sp_cap(p->u.sink.sink) - 1, pos));
        sp_row_fill(&row, pos - (sp_cap(p->u.sink.window) - 1), pos);
        break;
      case SPARSA_PATTERN_BLOCKS:
        if (r > 0 && i / p->bsr.block_rows == (i - 1) / p->bsr.block_rows)
          memcpy(row.out, row.out - ld, (size_t)nk); /* same tile row as the previous */
        else
          sp_blocks_row(&p->bsr, &row, i);
        break;
      case SPARSA_PATTERN_NEIGHBORHOOD: sp_nbhd_row(&p->nbhd, &row, i); break;
      case SPARSA_PATTERN_RADIAL: sp_radial_row(p, &row, pos); break;
      case SPARSA_PATTERN_POWER: sp_power_row(p, &row, pos); break;
      default: sp_row_clear(&row); break;
    }
  }
}
