/* Token-level membership, re-derived from the rules stated in
 * sparsa_pattern.h. Deliberately naive (linear scans, no shared helpers
 * with the library) so that it can catch the library's mistakes. */
#include "reference/ref_membership.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ref_pattern *ref_new(sparsa_pattern_kind kind) {
  ref_pattern *p = calloc(1, sizeof *p);
  if (p != NULL) p->kind = kind;
  return p;
}

static int64_t *ref_copy64(const int64_t *src, int64_t n) {
  int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
  if (v != NULL && n > 0) memcpy(v, src, (size_t)n * sizeof *v);
  return v;
}

ref_pattern *ref_pattern_dense(void) { return ref_new(SPARSA_PATTERN_DENSE); }
ref_pattern *ref_pattern_none(void) { return ref_new(SPARSA_PATTERN_NONE); }
ref_pattern *ref_pattern_causal(void) { return ref_new(SPARSA_PATTERN_CAUSAL); }

ref_pattern *ref_pattern_window(int64_t left, int64_t right) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_WINDOW);
  if (p != NULL) {
    p->param[0] = left;
    p->param[1] = right;
  }
  return p;
}

ref_pattern *ref_pattern_sink_window(int64_t sink, int64_t window) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_SINK_WINDOW);
  if (p != NULL) {
    p->param[0] = sink;
    p->param[1] = window;
  }
  return p;
}

ref_pattern *ref_pattern_dilated(int64_t left, int64_t right, int64_t dilation) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_DILATED);
  if (p != NULL) {
    p->param[0] = left;
    p->param[1] = right;
    p->param[2] = dilation;
  }
  return p;
}

ref_pattern *ref_pattern_global(const int64_t *tokens, int64_t num_tokens) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_GLOBAL);
  if (p == NULL) return NULL;
  p->list_a = ref_copy64(tokens, num_tokens);
  p->num_a = num_tokens;
  if (p->list_a == NULL) {
    ref_pattern_free(p);
    return NULL;
  }
  return p;
}

ref_pattern *ref_pattern_blocks_bsr(int32_t block_rows, int32_t block_cols, int64_t num_row_blocks,
                                    const int64_t *row_ptr, const int32_t *col_idx) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_BLOCKS);
  if (p == NULL) return NULL;
  p->block_rows = block_rows;
  p->block_cols = block_cols;
  p->num_row_blocks = num_row_blocks;
  p->row_ptr = ref_copy64(row_ptr, num_row_blocks + 1);
  int64_t nnz = row_ptr[num_row_blocks];
  p->col_idx = malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof(int32_t));
  if (p->row_ptr == NULL || p->col_idx == NULL) {
    ref_pattern_free(p);
    return NULL;
  }
  if (nnz > 0) memcpy(p->col_idx, col_idx, (size_t)nnz * sizeof(int32_t));
  return p;
}

ref_pattern *ref_pattern_blocks_bitmap(int32_t block_rows, int32_t block_cols,
                                       int64_t num_row_blocks, int64_t num_col_blocks,
                                       const uint8_t *bitmap) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_BLOCKS);
  if (p == NULL) return NULL;
  p->is_bitmap = 1;
  p->block_rows = block_rows;
  p->block_cols = block_cols;
  p->num_row_blocks = num_row_blocks;
  p->num_col_blocks = num_col_blocks;
  size_t cells = (size_t)(num_row_blocks * num_col_blocks);
  p->bitmap = malloc(cells > 0 ? cells : 1);
  if (p->bitmap == NULL) {
    ref_pattern_free(p);
    return NULL;
  }
  if (cells > 0) memcpy(p->bitmap, bitmap, cells);
  return p;
}

ref_pattern *ref_pattern_vertical_slash(const int64_t *columns, int64_t num_columns,
                                        const int64_t *offsets, int64_t num_offsets) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_VERTICAL_SLASH);
  if (p == NULL) return NULL;
  p->list_a = ref_copy64(columns, num_columns);
  p->num_a = num_columns;
  p->list_b = ref_copy64(offsets, num_offsets);
  p->num_b = num_offsets;
  if (p->list_a == NULL || p->list_b == NULL) {
    ref_pattern_free(p);
    return NULL;
  }
  return p;
}

ref_pattern *ref_pattern_neighborhood(const sparsa_neighborhood *params) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_NEIGHBORHOOD);
  if (p != NULL) p->nbhd = *params;
  return p;
}

ref_pattern *ref_pattern_radial(int64_t frame_tokens, int64_t window, int64_t max_frames) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_RADIAL);
  if (p != NULL) {
    p->param[0] = frame_tokens;
    p->param[1] = window;
    p->param[2] = max_frames;
  }
  return p;
}

ref_pattern *ref_pattern_power(int64_t local) {
  ref_pattern *p = ref_new(SPARSA_PATTERN_POWER);
  if (p != NULL) p->param[0] = local;
  return p;
}

static ref_pattern *ref_combination(sparsa_pattern_kind kind, ref_pattern *const *parts,
                                    int32_t num_parts) {
  ref_pattern *p = ref_new(kind);
  if (p != NULL) p->parts = malloc((size_t)(num_parts > 0 ? num_parts : 1) * sizeof *p->parts);
  if (p == NULL || p->parts == NULL) {
    for (int32_t k = 0; k < num_parts; k++) ref_pattern_free(parts[k]);
    if (p != NULL) ref_pattern_free(p);
    return NULL;
  }
  for (int32_t k = 0; k < num_parts; k++) p->parts[k] = parts[k];
  p->num_parts = num_parts;
  return p;
}

ref_pattern *ref_pattern_union(ref_pattern *const *parts, int32_t num_parts) {
  return ref_combination(SPARSA_PATTERN_UNION, parts, num_parts);
}

ref_pattern *ref_pattern_intersection(ref_pattern *const *parts, int32_t num_parts) {
  return ref_combination(SPARSA_PATTERN_INTERSECTION, parts, num_parts);
}

void ref_pattern_free(ref_pattern *p) {
  if (p == NULL) return;
  for (int32_t k = 0; k < p->num_parts; k++) ref_pattern_free(p->parts[k]);
  free(p->parts);
  free(p->list_a);
  free(p->list_b);
  free(p->row_ptr);
  free(p->col_idx);
  free(p->bitmap);
  free(p);
}

static int ref_listed(const int64_t *v, int64_t n, int64_t x) {
  for (int64_t k = 0; k < n; k++)
    if (v[k] == x) return 1;
  return 0;
}

static int ref_tile_listed(const ref_pattern *p, int64_t i, int64_t j) {
  int64_t r = i / p->block_rows, c = j / p->block_cols;
  if (r >= p->num_row_blocks) return 0;
  if (p->is_bitmap) return c < p->num_col_blocks && p->bitmap[r * p->num_col_blocks + c] != 0;
  for (int64_t k = p->row_ptr[r]; k < p->row_ptr[r + 1]; k++)
    if (p->col_idx[k] == c) return 1;
  return 0;
}

/* "keys share x's residue r = x mod g; within that sub-grid (length
 * n = ceil((L - r) / g), index x' = x / g) the window is [s, s + k) with
 * s = clamp(x' - k / 2, 0, max(n - k, 0)), cut to n; with the axis causal it
 * is [max(x' - k + 1, 0), x']" */
static int ref_axis_visible(int64_t L, int64_t k, int64_t g, int causal, int64_t x, int64_t y) {
  int64_t r = x % g;
  if (y % g != r) return 0;
  int64_t n = (L - r + g - 1) / g, xs = x / g, ys = y / g, lo, hi_excl;
  if (causal) {
    lo = xs - k + 1 > 0 ? xs - k + 1 : 0;
    hi_excl = xs + 1;
  } else {
    int64_t s = xs - k / 2;
    int64_t smax = n - k > 0 ? n - k : 0;
    if (s > smax) s = smax;
    if (s < 0) s = 0;
    lo = s;
    hi_excl = s + k < n ? s + k : n;
  }
  return ys >= lo && ys < hi_excl;
}

static int ref_neighborhood_visible(const sparsa_neighborhood *nb, int64_t i, int64_t j) {
  for (int a = 0; a < nb->num_dims; a++) {
    int64_t stride = 1;
    for (int b = a + 1; b < nb->num_dims; b++) stride *= nb->extent[b];
    int64_t x = (i / stride) % nb->extent[a], y = (j / stride) % nb->extent[a];
    if (!ref_axis_visible(nb->extent[a], nb->kernel[a], nb->dilation[a], nb->causal[a] != 0, x, y))
      return 0;
  }
  return 1;
}

static int64_t ref_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && a < 0) q--;
  return q;
}

static int ref_radial_visible(const ref_pattern *p, int64_t pos, int64_t j) {
  int64_t F = p->param[0], window = p->param[1];
  int64_t f = ref_floor_div(pos, F) - j / F;
  if (f < 0) f = -f;
  if (f > p->param[2]) return 0;
  int64_t s = (pos - ref_floor_div(pos, F) * F) - j % F;
  if (s < 0) s = -s;
  int64_t w = window;
  if (f >= 2) {
    int lg = 0;
    while ((f >> (lg + 1)) != 0) lg++;
    w = window >> lg;
  }
  return s <= w;
}

static int ref_power_of_two(int64_t d) {
  for (int64_t v = 1; v > 0 && v <= d; v *= 2)
    if (v == d) return 1;
  return 0;
}

int ref_visible(const ref_pattern *p, int64_t q_len, int64_t kv_len, int top_left, int64_t i,
                int64_t j) {
  int64_t off = top_left ? 0 : kv_len - q_len;
  int64_t pos = i + off, d = pos - j;
  switch (p->kind) {
    case SPARSA_PATTERN_DENSE: return 1;
    case SPARSA_PATTERN_NONE: return 0;
    case SPARSA_PATTERN_CAUSAL: return d >= 0;
    case SPARSA_PATTERN_WINDOW: return -p->param[1] <= d && d <= p->param[0];
    case SPARSA_PATTERN_SINK_WINDOW: return d >= 0 && (j < p->param[0] || d < p->param[1]);
    case SPARSA_PATTERN_DILATED:
      return -p->param[1] <= d && d <= p->param[0] && d % p->param[2] == 0;
    case SPARSA_PATTERN_GLOBAL:
      return ref_listed(p->list_a, p->num_a, j) || ref_listed(p->list_a, p->num_a, pos);
    case SPARSA_PATTERN_BLOCKS: return ref_tile_listed(p, i, j);
    case SPARSA_PATTERN_VERTICAL_SLASH:
      return d >= 0 && (ref_listed(p->list_a, p->num_a, j) || ref_listed(p->list_b, p->num_b, d));
    case SPARSA_PATTERN_NEIGHBORHOOD: return ref_neighborhood_visible(&p->nbhd, i, j);
    case SPARSA_PATTERN_RADIAL: return ref_radial_visible(p, pos, j);
    case SPARSA_PATTERN_POWER: return d >= 0 && (d < p->param[0] || ref_power_of_two(d));
    case SPARSA_PATTERN_UNION:
      for (int32_t k = 0; k < p->num_parts; k++)
        if (ref_visible(p->parts[k], q_len, kv_len, top_left, i, j)) return 1;
      return 0;
    case SPARSA_PATTERN_INTERSECTION:
      for (int32_t k = 0; k < p->num_parts; k++)
        if (!ref_visible(p->parts[k], q_len, kv_len, top_left, i, j)) return 0;
      return 1;
  }
  return 0;
}

sparsa_status ref_pattern_to_sparsa(const ref_pattern *p, sparsa_pattern **out) {
  switch (p->kind) {
    case SPARSA_PATTERN_DENSE: return sparsa_pattern_create_dense(out);
    case SPARSA_PATTERN_NONE: return sparsa_pattern_create_none(out);
    case SPARSA_PATTERN_CAUSAL: return sparsa_pattern_create_causal(out);
    case SPARSA_PATTERN_WINDOW: return sparsa_pattern_create_window(p->param[0], p->param[1], out);
    case SPARSA_PATTERN_SINK_WINDOW:
      return sparsa_pattern_create_sink_window(p->param[0], p->param[1], out);
    case SPARSA_PATTERN_DILATED:
      return sparsa_pattern_create_dilated(p->param[0], p->param[1], p->param[2], out);
    case SPARSA_PATTERN_GLOBAL: return sparsa_pattern_create_global(p->list_a, p->num_a, out);
    case SPARSA_PATTERN_BLOCKS:
      if (p->is_bitmap)
        return sparsa_pattern_create_blocks_bitmap(p->block_rows, p->block_cols, p->num_row_blocks,
                                                   p->num_col_blocks, p->bitmap, out);
      return sparsa_pattern_create_blocks_bsr(p->block_rows, p->block_cols, p->num_row_blocks,
                                              p->row_ptr, p->col_idx, out);
    case SPARSA_PATTERN_VERTICAL_SLASH:
      return sparsa_pattern_create_vertical_slash(p->list_a, p->num_a, p->list_b, p->num_b, out);
    case SPARSA_PATTERN_NEIGHBORHOOD: return sparsa_pattern_create_neighborhood(&p->nbhd, out);
    case SPARSA_PATTERN_RADIAL:
      return sparsa_pattern_create_radial(p->param[0], p->param[1], p->param[2], out);
    case SPARSA_PATTERN_POWER: return sparsa_pattern_create_power(p->param[0], out);
    case SPARSA_PATTERN_UNION:
    case SPARSA_PATTERN_INTERSECTION: {
      sparsa_pattern *parts[64] = {0};
      sparsa_status st = SPARSA_OK;
      int32_t n = p->num_parts > 64 ? 64 : p->num_parts;
      for (int32_t k = 0; k < n && st == SPARSA_OK; k++) st = ref_pattern_to_sparsa(p->parts[k], &parts[k]);
      if (st == SPARSA_OK)
        st = p->kind == SPARSA_PATTERN_UNION
                 ? sparsa_pattern_create_union((const sparsa_pattern *const *)parts, n, out)
                 : sparsa_pattern_create_intersection((const sparsa_pattern *const *)parts, n, out);
      for (int32_t k = 0; k < n; k++) sparsa_pattern_destroy(parts[k]);
      return st;
    }
  }
  return SPARSA_ERR_INVALID_ARGUMENT;
}

static const char *ref_kind_name(sparsa_pattern_kind k) {
  static const char *names[] = {"dense",  "causal", "window", "sink_window", "dilated",
                                "global", "blocks", "vertical_slash", "neighborhood",
                                "radial", "power",  "union",  "intersection", "none"};
  return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static size_t ref_describe_at(const ref_pattern *p, char *buf, size_t cap, size_t at) {
#define REF_PUT(...)                                                        \
  do {                                                                      \
    if (at < cap) {                                                         \
      int w_ = snprintf(buf + at, cap - at, __VA_ARGS__);                   \
      at += w_ > 0 ? (size_t)w_ : 0;                                        \
    }                                                                       \
  } while (0)
  REF_PUT("%s", ref_kind_name(p->kind));
  switch (p->kind) {
    case SPARSA_PATTERN_WINDOW:
    case SPARSA_PATTERN_SINK_WINDOW:
    case SPARSA_PATTERN_DILATED:
    case SPARSA_PATTERN_RADIAL:
    case SPARSA_PATTERN_POWER:
      REF_PUT("(%lld,%lld,%lld)", (long long)p->param[0], (long long)p->param[1],
              (long long)p->param[2]);
      break;
    case SPARSA_PATTERN_GLOBAL:
    case SPARSA_PATTERN_VERTICAL_SLASH:
      REF_PUT("(a:");
      for (int64_t k = 0; k < p->num_a; k++) REF_PUT(" %lld", (long long)p->list_a[k]);
      REF_PUT("; b:");
      for (int64_t k = 0; k < p->num_b; k++) REF_PUT(" %lld", (long long)p->list_b[k]);
      REF_PUT(")");
      break;
    case SPARSA_PATTERN_BLOCKS:
      REF_PUT("(%s %dx%d, %lld rows, %lld listed)", p->is_bitmap ? "bitmap" : "bsr",
              (int)p->block_rows, (int)p->block_cols, (long long)p->num_row_blocks,
              (long long)(p->is_bitmap ? p->num_col_blocks : p->row_ptr[p->num_row_blocks]));
      break;
    case SPARSA_PATTERN_NEIGHBORHOOD:
      REF_PUT("(%dd", (int)p->nbhd.num_dims);
      for (int a = 0; a < p->nbhd.num_dims; a++)
        REF_PUT(" [L%lld k%lld g%lld%s]", (long long)p->nbhd.extent[a], (long long)p->nbhd.kernel[a],
                (long long)p->nbhd.dilation[a], p->nbhd.causal[a] ? " c" : "");
      REF_PUT(")");
      break;
    case SPARSA_PATTERN_UNION:
    case SPARSA_PATTERN_INTERSECTION:
      REF_PUT("(");
      for (int32_t k = 0; k < p->num_parts; k++) {
        if (k) REF_PUT(", ");
        at = ref_describe_at(p->parts[k], buf, cap, at);
      }
      REF_PUT(")");
      break;
    default: break;
  }
  return at;
#undef REF_PUT
}

void ref_pattern_describe(const ref_pattern *p, char *buf, size_t cap) {
  if (cap == 0) return;
  buf[0] = 0;
  ref_describe_at(p, buf, cap, 0);
  buf[cap - 1] = 0;
}

uint64_t ref_rng_next(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int64_t ref_rng_range(uint64_t *state, int64_t lo, int64_t hi) {
  uint64_t span = (uint64_t)(hi - lo) + 1;
  return lo + (int64_t)(span == 0 ? ref_rng_next(state) : ref_rng_next(state) % span);
}

/* An extent for window-like kinds: often small, sometimes past the
 * lengths, sometimes unbounded. */
static int64_t ref_random_extent(uint64_t *rng, int64_t scale) {
  switch (ref_rng_range(rng, 0, 5)) {
    case 0: return 0;
    case 1: return ref_rng_range(rng, 0, 8);
    case 2: return SPARSA_UNBOUNDED;
    case 3: return ref_rng_range(rng, 0, scale + scale / 4 + 2);
    default: return ref_rng_range(rng, 0, scale / 2 + 1);
  }
}

static int64_t *ref_random_list(uint64_t *rng, int64_t n, int64_t hi) {
  int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
  if (v == NULL) return NULL;
  for (int64_t k = 0; k < n; k++) v[k] = ref_rng_range(rng, 0, hi);
  return v;
}

static ref_pattern *ref_random_blocks(uint64_t *rng, int64_t q_len, int64_t kv_len) {
  int32_t br = (int32_t)ref_rng_range(rng, 1, ref_rng_range(rng, 0, 1) ? 96 : 16);
  int32_t bc = (int32_t)ref_rng_range(rng, 1, ref_rng_range(rng, 0, 1) ? 96 : 16);
  int64_t rows = (q_len + br - 1) / br + ref_rng_range(rng, -1, 1);
  if (rows < 0) rows = 0;
  int64_t cols = (kv_len - 1) / bc + 1; /* columns must start inside kv_len */
  int64_t density = ref_rng_range(rng, 0, 100);
  if (ref_rng_range(rng, 0, 1)) {
    uint8_t *bitmap = malloc((size_t)(rows * cols > 0 ? rows * cols : 1));
    if (bitmap == NULL) return NULL;
    for (int64_t k = 0; k < rows * cols; k++) bitmap[k] = ref_rng_range(rng, 0, 99) < density;
    ref_pattern *p = ref_pattern_blocks_bitmap(br, bc, rows, cols, bitmap);
    free(bitmap);
    return p;
  }
  int64_t *row_ptr = malloc((size_t)(rows + 1) * sizeof *row_ptr);
  int32_t *col = malloc((size_t)(rows * (cols + 2) + 1) * sizeof *col);
  if (row_ptr == NULL || col == NULL) {
    free(row_ptr);
    free(col);
    return NULL;
  }
  int64_t n = 0;
  row_ptr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = cols - 1; c >= 0; c--) /* descending: the library must sort */
      if (ref_rng_range(rng, 0, 99) < density) col[n++] = (int32_t)c;
    if (n > row_ptr[r] && ref_rng_range(rng, 0, 3) == 0) col[n++] = col[row_ptr[r]]; /* duplicate */
    row_ptr[r + 1] = n;
  }
  ref_pattern *p = ref_pattern_blocks_bsr(br, bc, rows, row_ptr, col);
  free(row_ptr);
  free(col);
  return p;
}

static ref_pattern *ref_random_neighborhood(uint64_t *rng, int64_t n) {
  sparsa_neighborhood nb;
  memset(&nb, 0, sizeof nb);
  nb.struct_size = sizeof nb;
  int dims = (int)ref_rng_range(rng, 1, 3);
  int64_t left = n;
  for (int a = 0; a < dims; a++) {
    int64_t e = left;
    if (a + 1 < dims) {
      /* A random divisor of what is left. */
      int64_t divisors[64], nd = 0;
      for (int64_t d = 1; d * d <= left && nd < 62; d++)
        if (left % d == 0) {
          divisors[nd++] = d;
          if (d != left / d) divisors[nd++] = left / d;
        }
      e = divisors[ref_rng_range(rng, 0, nd - 1)];
    }
    nb.extent[a] = e;
    left /= e;
    nb.kernel[a] = ref_rng_range(rng, 1, e + 2);
    nb.dilation[a] = ref_rng_range(rng, 0, 2) ? 1 : ref_rng_range(rng, 1, e / 2 + 1);
    nb.causal[a] = ref_rng_range(rng, 0, 3) == 0;
  }
  nb.num_dims = dims;
  return ref_pattern_neighborhood(&nb);
}

static ref_pattern *ref_random_at(uint64_t *rng, int64_t q_len, int64_t kv_len, int depth) {
  int64_t longest = q_len > kv_len ? q_len : kv_len;
  for (;;) {
    int kind = (int)ref_rng_range(rng, 0, depth < 2 ? 15 : 12);
    switch (kind) {
      case 0: return ref_pattern_dense();
      case 1: return ref_pattern_causal();
      case 2: return ref_pattern_window(ref_random_extent(rng, longest), ref_random_extent(rng, longest));
      case 3: {
        int64_t window = ref_rng_range(rng, 0, 4) == 0 ? SPARSA_UNBOUNDED : ref_rng_range(rng, 1, longest + 4);
        return ref_pattern_sink_window(ref_random_extent(rng, kv_len), window);
      }
      case 4: {
        int64_t g = ref_rng_range(rng, 0, 2) ? ref_rng_range(rng, 1, 8) : ref_rng_range(rng, 1, longest / 2 + 2);
        return ref_pattern_dilated(ref_random_extent(rng, longest), ref_random_extent(rng, longest), g);
      }
      case 5: {
        int64_t n = ref_rng_range(rng, 0, 6);
        int64_t *v = ref_random_list(rng, n, longest + 3);
        if (v == NULL) return NULL;
        ref_pattern *p = ref_pattern_global(v, n);
        free(v);
        return p;
      }
      case 6:
      case 7: return ref_random_blocks(rng, q_len, kv_len);
      case 8: {
        int64_t nc = ref_rng_range(rng, 0, 6), no = ref_rng_range(rng, 0, 6);
        int64_t *c = ref_random_list(rng, nc, kv_len + 3);
        int64_t *o = ref_random_list(rng, no, ref_rng_range(rng, 0, 1) ? 40 : longest + 3);
        ref_pattern *p = c && o ? ref_pattern_vertical_slash(c, nc, o, no) : NULL;
        free(c);
        free(o);
        return p;
      }
      case 9:
        if (q_len != kv_len) continue;
        return ref_random_neighborhood(rng, q_len);
      case 10: {
        int64_t F = ref_rng_range(rng, 1, kv_len / 3 + 1);
        int64_t max_frames = ref_rng_range(rng, 0, 3) == 0 ? SPARSA_UNBOUNDED
                                                           : ref_rng_range(rng, 0, kv_len / F + 2);
        return ref_pattern_radial(F, ref_rng_range(rng, 0, F + 2), max_frames);
      }
      case 11: return ref_pattern_power(ref_rng_range(rng, 0, 3) ? ref_rng_range(rng, 0, 40) : 0);
      case 12: return ref_pattern_none();
      default: {
        ref_pattern *parts[3];
        int32_t n = (int32_t)ref_rng_range(rng, 1, 3);
        for (int32_t k = 0; k < n; k++) {
          parts[k] = ref_random_at(rng, q_len, kv_len, depth + 1);
          if (parts[k] == NULL) {
            for (int32_t m = 0; m < k; m++) ref_pattern_free(parts[m]);
            return NULL;
          }
        }
        return kind == 15 ? ref_pattern_intersection(parts, n) : ref_pattern_union(parts, n);
      }
    }
  }
}

ref_pattern *ref_pattern_random(uint64_t *rng_state, int64_t q_len, int64_t kv_len) {
  return ref_random_at(rng_state, q_len, kv_len, 0);
}
