/* The pattern object behind the opaque handle, and the small arithmetic
 * every pattern file shares. Private to the pattern and mask code: engines
 * go through pattern.h (rules, classification, tiles) or pattern_flat.h. */
#ifndef SPARSA_CORE_PATTERN_INTERNAL_H
#define SPARSA_CORE_PATTERN_INTERNAL_H

#include <stdint.h>

#include "pattern.h"
#include "refcount.h"

/* Window-like extents are stored as given (SPARSA_UNBOUNDED included) but
 * computed with after clamping to this cap: distances between positions of
 * sequences shorter than 2^31 never exceed 2^32, so the rule is unchanged
 * and no subtraction can overflow. */
#define SP_EXTENT_CAP ((int64_t)1 << 40)

static inline int64_t sp_cap(int64_t x) { return x > SP_EXTENT_CAP ? SP_EXTENT_CAP : x; }
static inline int64_t sp_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t sp_max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Floor division and the matching non-negative remainder (b > 0), so that
 * frames of negative aligned positions keep a constant width. */
static inline int64_t sp_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
static inline int64_t sp_floor_mod(int64_t a, int64_t b) { return a - sp_floor_div(a, b) * b; }

/* A sorted, duplicate-free set of non-negative positions. */
typedef struct sp_index_set {
  int64_t *v;
  int64_t n;
} sp_index_set;

/* A vertical-slash pattern with no column and no offset, and the
 * arrays it then takes instead of copying them (strictly ascending and
 * non-negative, from sp_malloc: the caller vouches for them; they are the
 * pattern's from then on). */
sparsa_status sp_pattern_vertical_slash_empty(sparsa_pattern **out);
void sp_pattern_vertical_slash_take(sparsa_pattern *p, int64_t *columns, int64_t num_columns,
                                    int64_t *offsets, int64_t num_offsets);

/* Number of elements < x (lower bound). */
int64_t sp_index_lower(const sp_index_set *s, int64_t x);
/* Number of elements in [lo, hi] (inclusive; 0 when lo > hi). */
int64_t sp_index_count(const sp_index_set *s, int64_t lo, int64_t hi);
static inline int sp_index_has(const sp_index_set *s, int64_t x) {
  int64_t k = sp_index_lower(s, x);
  return k < s->n && s->v[k] == x;
}

/* Block-sparse tiles (both constructors end here): row r lists the sorted,
 * distinct tile columns col[row_ptr[r] .. row_ptr[r + 1]). */
typedef struct sp_bsr {
  int64_t block_rows, block_cols;
  int64_t num_row_blocks;
  int64_t *row_ptr;
  int32_t *col;
  int32_t max_col; /* -1 when no tile is listed */
} sp_bsr;

/* Neighborhood normalized to three axes: a grid of fewer axes gets leading
 * axes of extent 1, kernel 1, dilation 1, which change no rule. */
typedef struct sp_nbhd {
  int32_t num_dims;  /* as given, for reporting and flattening */
  int64_t extent[3];
  int64_t kernel[3]; /* capped at SP_EXTENT_CAP */
  int64_t dilation[3];
  int32_t causal[3];
  int64_t stride[3]; /* flat-index stride of each axis */
} sp_nbhd;

struct sparsa_pattern {
  sp_refcount refs;
  sparsa_pattern_kind kind;
  union {
    struct { int64_t left, right, dilation; } win; /* WINDOW (dilation 1), DILATED */
    struct { int64_t sink, window; } sink;          /* SINK_WINDOW */
    struct { int64_t local; } power;                /* POWER */
    struct { int64_t frame_tokens, window, max_frames; } radial;
  } u;
  sp_index_set set_a; /* GLOBAL: tokens; VERTICAL_SLASH: columns */
  sp_index_set set_b; /* VERTICAL_SLASH: diagonal offsets */
  sp_bsr bsr;         /* BLOCKS */
  sp_nbhd nbhd;       /* NEIGHBORHOOD */
  const sparsa_pattern **parts; /* UNION, INTERSECTION: retained */
  int32_t num_parts;
};

/* Per-axis window of a neighborhood query coordinate x: keys y with
 * y mod g == residue and lo <= y / g <= hi (sub-grid indices). */
typedef struct sp_axis_window {
  int64_t residue, lo, hi;
} sp_axis_window;

static inline sp_axis_window sp_nbhd_axis_window(const sp_nbhd *nb, int axis, int64_t x) {
  int64_t L = nb->extent[axis], k = nb->kernel[axis], g = nb->dilation[axis];
  sp_axis_window w;
  w.residue = x % g;
  int64_t xs = x / g;
  int64_t n = (L - w.residue + g - 1) / g;
  if (nb->causal[axis]) {
    w.lo = sp_max64(xs - k + 1, 0);
    w.hi = xs;
  } else {
    int64_t s = sp_min64(sp_max64(xs - k / 2, 0), sp_max64(n - k, 0));
    w.lo = s;
    w.hi = sp_min64(s + k, n) - 1;
  }
  return w;
}

/* Coordinates axis a takes over the flat range [t0, t1] (inclusive), as a
 * bounding interval [*c0, *c1]. */
void sp_nbhd_projection(const sp_nbhd *nb, int a, int64_t t0, int64_t t1, int64_t *c0,
                        int64_t *c1);
/* Bounding interval [*y0, *y1] of the key coordinates that queries with
 * coordinates in [x0, x1] see on axis a. */
void sp_nbhd_key_bounds(const sp_nbhd *nb, int a, int64_t x0, int64_t x1, int64_t *y0,
                        int64_t *y1);

/* Spatial half-width of radial attention at frame distance f >= 0. */
static inline int64_t sp_radial_width(int64_t window, int64_t f) {
  if (f < 2) return window;
  int shift = 63 - __builtin_clzll((unsigned long long)f);
  return window >> shift;
}

/* Spatial positions within w of s inside a frame of F tokens:
 * [max(s - w, 0), min(s + w, F - 1)], without overflow for any F, w >= 0
 * and 0 <= s < F. */
static inline int64_t sp_frame_low(int64_t s, int64_t w) { return w >= s ? 0 : s - w; }
static inline int64_t sp_frame_high(int64_t s, int64_t w, int64_t F) {
  return w >= F - 1 - s ? F - 1 : s + w;
}

static inline int sp_is_pow2(int64_t d) { return d > 0 && (d & (d - 1)) == 0; }

#endif
