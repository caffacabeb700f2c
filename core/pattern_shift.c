/* Translations between query blocks (see sp_pattern_translation in
 * pattern_spans.h): where the rule seen by one query block is the rule seen
 * by an earlier one moved along the keys, the mask builder copies that
 * block's runs moved by a whole number of key blocks instead of enumerating
 * candidates again. Neighborhoods: inside the grid, a step along one axis
 * moves each query's window by the same step, or not at all where the
 * window is clamped at the grid's edge. Radial patterns: the rule repeats
 * from one frame to the next, but for the first key frame. Power-of-two
 * distances: the rule repeats from one query block to the next, but for
 * the keys before the first ones the earlier block reached. */
#include "pattern_internal.h"
#include "pattern_spans.h"

/* The window of axis a (dilation 1) moves by the same delta, 0 or d, for
 * every coordinate x in [x0, x1] stepped to x + d. Both bounds are
 * non-decreasing in x with steps of 0 or 1, so comparing the ends suffices:
 * a bound that rises by x1 + d - x0 over [x0, x1 + d] rises at every step,
 * one that does not rise is constant. */
static int sp_axis_moves(const sp_nbhd *nb, int a, int64_t x0, int64_t x1, int64_t d,
                         int64_t *delta) {
  sp_axis_window first = sp_nbhd_axis_window(nb, a, x0);
  sp_axis_window last = sp_nbhd_axis_window(nb, a, x1 + d);
  int64_t span = x1 + d - x0;
  if (last.lo - first.lo == span && last.hi - first.hi == span) {
    *delta = d;
    return 1;
  }
  if (last.lo == first.lo && last.hi == first.hi) {
    *delta = 0;
    return 1;
  }
  return 0;
}

/* Query block qb (rows [q0, q0 + B)) as block qb - back stepped d cells
 * along axis a, where back * B = d * stride[a]: the step leaves the other
 * axes' coordinates as they are when both blocks lie in one line of axis a
 * (one cell of the axes before it). */
static int sp_nbhd_translation(const sp_nbhd *nb, const sp_tiling *t, int64_t qb,
                               sp_translation *out) {
  if (nb->dilation[2] != 1) return 0; /* bounding boxes: not worth the care */
  int64_t B = t->block_q, q0 = qb * B;
  for (int a = 2; a >= 0; a--) {
    int64_t S = nb->stride[a], L = nb->extent[a], m, d, delta;
    if (nb->dilation[a] != 1) continue;
    if (S % B == 0) {
      m = S / B;
      d = 1;
    } else if (B % S == 0) {
      m = 1;
      d = B / S;
    } else {
      continue;
    }
    int64_t s0 = q0 - m * B;
    if (s0 < 0 || s0 / (S * L) != (q0 + B - 1) / (S * L)) continue;
    int64_t x0 = (s0 / S) % L, x1 = ((s0 + B - 1) / S) % L;
    if (!sp_axis_moves(nb, a, x0, x1, d, &delta)) continue;
    int64_t tokens = delta * S;
    if (tokens % t->block_kv != 0) continue;
    out->back = m;
    out->shift = tokens >> t->kv_shift;
    out->head = 0;
    out->head_repeats = 0;
    return 1;
  }
  return 0;
}

/* A radial query block as the block one frame earlier: key frames keep
 * their distances one frame further on, and frame 0, when in reach, is the
 * one frame the earlier block had no counterpart for (the head). Frames and
 * query blocks must tile evenly, and the block lie inside one frame. Frame
 * 0 is seen at the same positions in the frame by both blocks, so where
 * its distances from the two give one width (the width halves only at
 * powers of two), both see the same keys there: the head repeats. */
static int sp_radial_translation(const sparsa_pattern *p, const sp_tiling *t, int64_t qb,
                                 sp_translation *out) {
  /* Called for every query block: one division (the frame), the block
   * sizes' tests by masks (both are powers of two). A 64-bit division
   * costs tens of cycles on many x86 cores, four of them were a sixth of
   * a radial mask's build on an Ice Lake core. */
  int64_t F = p->u.radial.frame_tokens, B = t->block_q, M = sp_cap(p->u.radial.max_frames);
  if ((F & (B - 1)) != 0 || (F & (t->block_kv - 1)) != 0 || qb < F >> t->q_shift) return 0;
  int64_t P0 = qb * B + t->g.off, fp = sp_floor_div(P0, F);
  if (P0 - fp * F + B > F) return 0; /* the block straddles two frames */
  int64_t f = fp >= 0 ? fp : -fp, f_before = fp - 1 >= 0 ? fp - 1 : 1 - fp;
  int64_t W = p->u.radial.window;
  out->back = F >> t->q_shift;
  out->shift = F >> t->kv_shift;
  out->head = f <= M ? out->shift : 0;
  out->head_repeats = out->head > 0 && f_before <= M &&
                      sp_radial_width(W, f) == sp_radial_width(W, f_before);
  return 1;
}

/* Power-of-two distances, a rule of the distance d = P - j alone: a query
 * block sees what the block a whole number of key blocks earlier sees,
 * moved by that many, and besides those only keys of the first blocks,
 * which the earlier block's queries would have seen before key 0 (the
 * head, whose spans stop at it: sp_power_spans). A row of some 8 runs
 * then costs their copy instead of one span per power of two (32 heads
 * at N = 32768 on an Ice Lake core: 0.94 -> 0.55 ms). Not taken for the
 * bands (causal, windows): their head costs the row's own few spans, and
 * causal ran ~10% slower so; nor for dilated windows, whose CHECK spans'
 * runs do not join those of the next span, so that a moved row could part
 * where the row's own does not. */
static int sp_power_translation(const sp_tiling *t, int64_t qb, sp_translation *out) {
  const int64_t back = t->block_q >= t->block_kv ? 1 : t->block_kv >> t->q_shift;
  if (qb < back) return 0;
  out->back = back;
  out->shift = (back * t->block_q) >> t->kv_shift;
  out->head = out->shift;
  out->head_repeats = 0;
  return 1;
}

int sp_pattern_translation(const sparsa_pattern *p, const sp_tiling *t, int64_t qb,
                           sp_translation *out) {
  /* Both blocks must have full height: the last one may be cut short. */
  if (qb <= 0 || (qb + 1) * t->block_q > t->g.q_len) return 0;
  switch (p->kind) {
    case SPARSA_PATTERN_NEIGHBORHOOD: return sp_nbhd_translation(&p->nbhd, t, qb, out);
    case SPARSA_PATTERN_RADIAL: return sp_radial_translation(p, t, qb, out);
    case SPARSA_PATTERN_POWER: return sp_power_translation(t, qb, out);
    default: return 0;
  }
}
