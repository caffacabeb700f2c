/* The token-level rule of every kind, written as literally as the public
 * header states it: the definition the faster paths (classification,
 * candidate spans, tiles, the flat evaluator) must agree with. */
#include "pattern_internal.h"

static int sp_bsr_visible(const sp_bsr *b, int64_t i, int64_t j) {
  int64_t r = i / b->block_rows;
  if (r >= b->num_row_blocks) return 0;
  int64_t c = j / b->block_cols;
  int64_t lo = b->row_ptr[r], hi = b->row_ptr[r + 1];
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (b->col[mid] < c)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < b->row_ptr[r + 1] && b->col[lo] == c;
}

static int sp_nbhd_visible(const sp_nbhd *nb, int64_t i, int64_t j) {
  for (int a = 0; a < 3; a++) {
    int64_t x = (i / nb->stride[a]) % nb->extent[a];
    int64_t y = (j / nb->stride[a]) % nb->extent[a];
    sp_axis_window w = sp_nbhd_axis_window(nb, a, x);
    int64_t g = nb->dilation[a];
    if (y % g != w.residue) return 0;
    int64_t ys = y / g;
    if (ys < w.lo || ys > w.hi) return 0;
  }
  return 1;
}

static int sp_radial_visible(const sparsa_pattern *p, int64_t pos, int64_t j) {
  int64_t F = p->u.radial.frame_tokens;
  int64_t f = sp_floor_div(pos, F) - j / F;
  if (f < 0) f = -f;
  if (f > p->u.radial.max_frames) return 0;
  int64_t s = sp_floor_mod(pos, F) - j % F;
  if (s < 0) s = -s;
  return s <= sp_radial_width(p->u.radial.window, f);
}

int sp_pattern_visible(const sparsa_pattern *p, const sp_geom *g, int64_t i, int64_t j) {
  int64_t pos = i + g->off;
  int64_t d = pos - j;
  switch (p->kind) {
    case SPARSA_PATTERN_DENSE: return 1;
    case SPARSA_PATTERN_NONE: return 0;
    case SPARSA_PATTERN_CAUSAL: return d >= 0;
    case SPARSA_PATTERN_WINDOW:
      return d >= -sp_cap(p->u.win.right) && d <= sp_cap(p->u.win.left);
    case SPARSA_PATTERN_DILATED:
      return d >= -sp_cap(p->u.win.right) && d <= sp_cap(p->u.win.left) &&
             d % p->u.win.dilation == 0;
    case SPARSA_PATTERN_SINK_WINDOW:
      return d >= 0 && (j < p->u.sink.sink || d < p->u.sink.window);
    case SPARSA_PATTERN_GLOBAL: return sp_index_has(&p->set_a, j) || sp_index_has(&p->set_a, pos);
    case SPARSA_PATTERN_BLOCKS: return sp_bsr_visible(&p->bsr, i, j);
    case SPARSA_PATTERN_VERTICAL_SLASH:
      return d >= 0 && (sp_index_has(&p->set_a, j) || sp_index_has(&p->set_b, d));
    case SPARSA_PATTERN_NEIGHBORHOOD: return sp_nbhd_visible(&p->nbhd, i, j);
    case SPARSA_PATTERN_RADIAL: return sp_radial_visible(p, pos, j);
    case SPARSA_PATTERN_POWER: return d >= 0 && (d < p->u.power.local || sp_is_pow2(d));
    case SPARSA_PATTERN_UNION:
      for (int32_t k = 0; k < p->num_parts; k++)
        if (sp_pattern_visible(p->parts[k], g, i, j)) return 1;
      return 0;
    case SPARSA_PATTERN_INTERSECTION:
      for (int32_t k = 0; k < p->num_parts; k++)
        if (!sp_pattern_visible(p->parts[k], g, i, j)) return 0;
      return 1;
  }
  return 0;
}
