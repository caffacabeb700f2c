/* A flat, pointer-free encoding of a pattern tree and its token-level
 * evaluator, for code that cannot follow the library's pointers: the CUDA
 * engine uploads it to refine partial blocks on the device, and pattern
 * files may serialize it.
 *
 * Encoding: nodes in post-order (every child before its parent, the root
 * last). A union or intersection node combines the values of the
 * num_children subtrees that end just before it. Arrays live in one int64
 * pool, addressed by offset and count. Parameters per kind:
 *   WINDOW, DILATED  param = {left, right, dilation}   (extents capped at 2^40)
 *   SINK_WINDOW      param = {sink, window}            (capped)
 *   POWER            param = {local}                   (capped)
 *   RADIAL           param = {frame_tokens, window, max_frames (capped)}
 *   GLOBAL           array 0 = sorted distinct tokens
 *   VERTICAL_SLASH   array 0 = sorted distinct columns, array 1 = sorted distinct offsets
 *   BLOCKS           param = {block_rows, block_cols, num_row_blocks};
 *                    array 0 = row offsets (num_row_blocks + 1), array 1 = sorted columns
 *   NEIGHBORHOOD     array 0 = 15 values, three axes (a grid of fewer axes is
 *                    padded in front with axes of extent 1):
 *                    extent[3], kernel[3], dilation[3], causal[3], stride[3]
 * The evaluator is plain C that also compiles as CUDA device code, with no
 * recursion: values go on a bit stack of SP_FLAT_MAX_DEPTH entries. */
#ifndef SPARSA_CORE_PATTERN_FLAT_H
#define SPARSA_CORE_PATTERN_FLAT_H

#include <stdint.h>

#include "pattern.h"

#if defined(__CUDACC__)
#define SP_HOST_DEVICE __host__ __device__
#else
#define SP_HOST_DEVICE
#endif

/* Largest number of values pending at once while evaluating. */
#define SP_FLAT_MAX_DEPTH 256

typedef struct sp_flat_node {
  int32_t kind;         /* sparsa_pattern_kind */
  int32_t num_children; /* UNION, INTERSECTION */
  int64_t param[4];
  int64_t data[2];      /* offsets of arrays 0 and 1 into the pool */
  int64_t count[2];     /* their lengths */
} sp_flat_node;

typedef struct sp_flat_pattern {
  sp_flat_node *nodes;
  int32_t num_nodes;
  int32_t max_depth;    /* evaluation stack needed, <= SP_FLAT_MAX_DEPTH */
  int64_t *data;
  int64_t data_len;
} sp_flat_pattern;

/* Encodes p (arrays allocated with sp_malloc; release with
 * sp_flat_pattern_free). SPARSA_ERR_UNSUPPORTED if the tree needs a deeper
 * stack than SP_FLAT_MAX_DEPTH or more than 2^31 - 1 nodes. */
sparsa_status sp_pattern_flatten(const sparsa_pattern *p, sp_flat_pattern *out);
void sp_flat_pattern_free(sp_flat_pattern *f);
/* The encoding in the caller's memory: its sizes (nodes, pool values;
 * the same error as sp_pattern_flatten where it cannot be encoded), then
 * the encoding into arrays of those sizes (out's arrays point there). */
sparsa_status sp_pattern_flat_size(const sparsa_pattern *p, int64_t *nodes, int64_t *data);
void sp_pattern_flatten_into(const sparsa_pattern *p, sp_flat_node *nodes, int64_t *data,
                             sp_flat_pattern *out);

SP_HOST_DEVICE static inline int64_t sp_flat_min(int64_t a, int64_t b) { return a < b ? a : b; }
SP_HOST_DEVICE static inline int64_t sp_flat_max(int64_t a, int64_t b) { return a > b ? a : b; }

SP_HOST_DEVICE static inline int64_t sp_flat_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* First index of v[0..n) (sorted) whose value is >= x. */
SP_HOST_DEVICE static inline int64_t sp_flat_lower_bound(const int64_t *v, int64_t n, int64_t x) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (v[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

SP_HOST_DEVICE static inline int sp_flat_has(const int64_t *v, int64_t n, int64_t x) {
  const int64_t at = sp_flat_lower_bound(v, n, x);
  return at < n && v[at] == x;
}

SP_HOST_DEVICE static inline int sp_flat_log2(int64_t f) {
#if defined(__CUDA_ARCH__)
  return 63 - __clzll((long long)f);
#else
  return 63 - __builtin_clzll((unsigned long long)f);
#endif
}

SP_HOST_DEVICE static inline int sp_flat_leaf(const sp_flat_node *n, const int64_t *data,
                                              sp_geom g, int64_t i, int64_t j) {
  int64_t pos = i + g.off, d = pos - j;
  const int64_t *a0 = data + n->data[0], *a1 = data + n->data[1];
  switch (n->kind) {
    case SPARSA_PATTERN_DENSE: return 1;
    case SPARSA_PATTERN_NONE: return 0;
    case SPARSA_PATTERN_CAUSAL: return d >= 0;
    case SPARSA_PATTERN_WINDOW:
    case SPARSA_PATTERN_DILATED:
      return d >= -n->param[1] && d <= n->param[0] && d % n->param[2] == 0;
    case SPARSA_PATTERN_SINK_WINDOW: return d >= 0 && (j < n->param[0] || d < n->param[1]);
    case SPARSA_PATTERN_POWER: return d >= 0 && (d < n->param[0] || (d > 0 && (d & (d - 1)) == 0));
    case SPARSA_PATTERN_GLOBAL:
      return sp_flat_has(a0, n->count[0], j) || sp_flat_has(a0, n->count[0], pos);
    case SPARSA_PATTERN_VERTICAL_SLASH:
      return d >= 0 && (sp_flat_has(a0, n->count[0], j) || sp_flat_has(a1, n->count[1], d));
    case SPARSA_PATTERN_BLOCKS: {
      int64_t r = i / n->param[0];
      if (r >= n->param[2]) return 0;
      int64_t c = j / n->param[1], lo = a0[r], hi = a0[r + 1];
      while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a1[mid] < c)
          lo = mid + 1;
        else
          hi = mid;
      }
      return lo < a0[r + 1] && a1[lo] == c;
    }
    case SPARSA_PATTERN_NEIGHBORHOOD: {
      for (int ax = 0; ax < 3; ax++) {
        int64_t L = a0[ax], k = a0[3 + ax], gd = a0[6 + ax], S = a0[12 + ax];
        int64_t x = (i / S) % L, y = (j / S) % L;
        int64_t r = x % gd, xs = x / gd, n_sub = (L - r + gd - 1) / gd, lo, hi;
        if (a0[9 + ax]) {
          lo = sp_flat_max(xs - k + 1, 0);
          hi = xs;
        } else {
          lo = sp_flat_min(sp_flat_max(xs - k / 2, 0), sp_flat_max(n_sub - k, 0));
          hi = sp_flat_min(lo + k, n_sub) - 1;
        }
        if (y % gd != r || y / gd < lo || y / gd > hi) return 0;
      }
      return 1;
    }
    case SPARSA_PATTERN_RADIAL: {
      int64_t F = n->param[0];
      int64_t fp = sp_flat_floor_div(pos, F);
      int64_t f = fp - j / F;
      if (f < 0) f = -f;
      if (f > n->param[2]) return 0;
      int64_t s = (pos - fp * F) - j % F;
      if (s < 0) s = -s;
      int64_t w = f < 2 ? n->param[1] : (n->param[1] >> sp_flat_log2(f));
      return s <= w;
    }
    default: return 0;
  }
}

/* Token-level membership of (i, j), identical to sp_pattern_visible. */
SP_HOST_DEVICE static inline int sp_flat_visible(const sp_flat_node *nodes, int32_t num_nodes,
                                                 const int64_t *data, sp_geom g, int64_t i,
                                                 int64_t j) {
  uint64_t stack[SP_FLAT_MAX_DEPTH / 64] = {0};
  int32_t depth = 0;
  for (int32_t k = 0; k < num_nodes; k++) {
    const sp_flat_node *n = &nodes[k];
    int v;
    if (n->kind == SPARSA_PATTERN_UNION || n->kind == SPARSA_PATTERN_INTERSECTION) {
      int is_union = n->kind == SPARSA_PATTERN_UNION;
      v = !is_union;
      for (int32_t c = 0; c < n->num_children; c++) {
        depth--;
        int bit = (int)((stack[depth >> 6] >> (depth & 63)) & 1u);
        v = is_union ? (v | bit) : (v & bit);
      }
    } else {
      v = sp_flat_leaf(n, data, g, i, j);
    }
    uint64_t mask = (uint64_t)1 << (depth & 63);
    stack[depth >> 6] = v ? (stack[depth >> 6] | mask) : (stack[depth >> 6] & ~mask);
    depth++;
  }
  return (int)(stack[0] & 1u);
}

#endif
