/* Pattern handles: validation of the constructors' arguments, copies of
 * their arrays in the canonical (sorted, duplicate-free) form the rest of
 * the code relies on, reference counting, and the public queries. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "pattern_internal.h"

#define SP_MAX_PARTS 64

sp_geom sp_geom_make(int64_t q_len, int64_t kv_len, sparsa_alignment alignment) {
  sp_geom g;
  g.q_len = q_len;
  g.kv_len = kv_len;
  g.off = alignment == SPARSA_ALIGN_TOP_LEFT ? 0 : kv_len - q_len;
  return g;
}

int64_t sp_index_lower(const sp_index_set *s, int64_t x) {
  if (s->n == 0) return 0;
  /* Halving a window of n with no branch on the comparison: lookups of
   * unrelated positions (a query block's global rows, a tile's columns)
   * would mispredict about every other step. */
  const int64_t *first = s->v;
  for (int64_t n = s->n; n > 1;) {
    int64_t half = n / 2;
    first += (first[half - 1] < x) * half;
    n -= half;
  }
  return (first - s->v) + (*first < x);
}

int64_t sp_index_count(const sp_index_set *s, int64_t lo, int64_t hi) {
  if (lo > hi) return 0;
  return sp_index_lower(s, hi == INT64_MAX ? hi : hi + 1) - sp_index_lower(s, lo);
}

static int sp_cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int sp_cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Allocates the handle with one reference; everything else zeroed. */
static sparsa_status sp_pattern_alloc(const char *fn, sparsa_pattern_kind kind,
                                      sparsa_pattern **out) {
  sparsa_pattern *p = sp_calloc(1, sizeof *p);
  if (p == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "%s: allocating the pattern", fn);
  sp_ref_init(&p->refs);
  p->kind = kind;
  *out = p;
  return SPARSA_OK;
}

static void sp_pattern_free(sparsa_pattern *p) {
  for (int32_t k = 0; k < p->num_parts; k++) sparsa_pattern_destroy((sparsa_pattern *)p->parts[k]);
  sp_free((void *)p->parts);
  sp_free(p->set_a.v);
  sp_free(p->set_b.v);
  sp_free(p->bsr.row_ptr);
  sp_free(p->bsr.col);
  sp_free(p);
}

void sp_pattern_retain(const sparsa_pattern *p) { sp_ref_retain(&((sparsa_pattern *)p)->refs); }

SPARSA_API void sparsa_pattern_destroy(sparsa_pattern *pattern) {
  if (pattern == NULL || !sp_ref_release(&pattern->refs)) return;
  sp_pattern_free(pattern);
}

/* Copies n positions (each >= 0) into a sorted, duplicate-free set. */
static sparsa_status sp_index_set_copy(const char *fn, const char *what, const int64_t *src,
                                       int64_t n, sp_index_set *set) {
  if (n < 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: num_%s = %lld: must be >= 0", fn, what,
                   (long long)n);
  if (n > 0 && src == NULL)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: %s is NULL with num_%s = %lld", fn, what,
                   what, (long long)n);
  for (int64_t k = 0; k < n; k++)
    if (src[k] < 0)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: %s[%lld] = %lld: must be >= 0", fn, what,
                     (long long)k, (long long)src[k]);
  set->n = 0;
  set->v = sp_malloc(sp_mul_size((size_t)n, sizeof(int64_t)));
  if (set->v == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "%s: copying %lld %s", fn, (long long)n, what);
  if (n == 0) return SPARSA_OK;
  memcpy(set->v, src, (size_t)n * sizeof(int64_t));
  /* Lists that come sorted and distinct (an estimate's columns and
   * offsets, hundreds a head) need no sort: the check is one pass. */
  int64_t ascending = 1;
  while (ascending < n && src[ascending] > src[ascending - 1]) ascending++;
  if (ascending == n) {
    set->n = n;
    return SPARSA_OK;
  }
  qsort(set->v, (size_t)n, sizeof(int64_t), sp_cmp_i64);
  int64_t m = 1;
  for (int64_t k = 1; k < n; k++)
    if (set->v[k] != set->v[m - 1]) set->v[m++] = set->v[k];
  set->n = m;
  return SPARSA_OK;
}

static sparsa_status sp_check_extent(const char *fn, const char *name, int64_t v, int64_t min) {
  if (v < min)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: %s = %lld: must be >= %lld", fn, name,
                   (long long)v, (long long)min);
  return SPARSA_OK;
}

static sparsa_status sp_make_simple(const char *fn, sparsa_pattern_kind kind,
                                    sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  return sp_pattern_alloc(fn, kind, out);
}

SPARSA_API sparsa_status sparsa_pattern_create_dense(sparsa_pattern **out) {
  return sp_make_simple(__func__, SPARSA_PATTERN_DENSE, out);
}

SPARSA_API sparsa_status sparsa_pattern_create_none(sparsa_pattern **out) {
  return sp_make_simple(__func__, SPARSA_PATTERN_NONE, out);
}

SPARSA_API sparsa_status sparsa_pattern_create_causal(sparsa_pattern **out) {
  return sp_make_simple(__func__, SPARSA_PATTERN_CAUSAL, out);
}

SPARSA_API sparsa_status sparsa_pattern_create_window(int64_t left, int64_t right,
                                                      sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_TRY(sp_check_extent(__func__, "left", left, 0));
  SP_TRY(sp_check_extent(__func__, "right", right, 0));
  SP_TRY(sp_pattern_alloc(__func__, SPARSA_PATTERN_WINDOW, out));
  (*out)->u.win.left = left;
  (*out)->u.win.right = right;
  (*out)->u.win.dilation = 1;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_create_sink_window(int64_t sink, int64_t window,
                                                           sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_TRY(sp_check_extent(__func__, "sink", sink, 0));
  SP_TRY(sp_check_extent(__func__, "window", window, 1));
  SP_TRY(sp_pattern_alloc(__func__, SPARSA_PATTERN_SINK_WINDOW, out));
  (*out)->u.sink.sink = sink;
  (*out)->u.sink.window = window;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_create_dilated(int64_t left, int64_t right,
                                                       int64_t dilation, sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_TRY(sp_check_extent(__func__, "left", left, 0));
  SP_TRY(sp_check_extent(__func__, "right", right, 0));
  SP_TRY(sp_check_extent(__func__, "dilation", dilation, 1));
  SP_TRY(sp_pattern_alloc(__func__, SPARSA_PATTERN_DILATED, out));
  (*out)->u.win.left = left;
  (*out)->u.win.right = right;
  /* Distances stay below 2^33: any larger dilation only admits d = 0. */
  (*out)->u.win.dilation = sp_cap(dilation);
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_create_global(const int64_t *tokens, int64_t num_tokens,
                                                      sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  sparsa_pattern *p = NULL;
  SP_TRY(sp_pattern_alloc(__func__, SPARSA_PATTERN_GLOBAL, &p));
  sparsa_status st = sp_index_set_copy(__func__, "tokens", tokens, num_tokens, &p->set_a);
  if (st != SPARSA_OK) {
    sp_pattern_free(p);
    return st;
  }
  *out = p;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_create_vertical_slash(const int64_t *columns,
                                                              int64_t num_columns,
                                                              const int64_t *offsets,
                                                              int64_t num_offsets,
                                                              sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  sparsa_pattern *p = NULL;
  SP_TRY(sp_pattern_alloc(__func__, SPARSA_PATTERN_VERTICAL_SLASH, &p));
  sparsa_status st = sp_index_set_copy(__func__, "columns", columns, num_columns, &p->set_a);
  if (st == SPARSA_OK)
    st = sp_index_set_copy(__func__, "offsets", offsets, num_offsets, &p->set_b);
  if (st != SPARSA_OK) {
    sp_pattern_free(p);
    return st;
  }
  *out = p;
  return SPARSA_OK;
}

sparsa_status sp_pattern_vertical_slash_empty(sparsa_pattern **out) {
  return sp_pattern_alloc(__func__, SPARSA_PATTERN_VERTICAL_SLASH, out);
}

void sp_pattern_vertical_slash_take(sparsa_pattern *p, int64_t *columns, int64_t num_columns,
                                    int64_t *offsets, int64_t num_offsets) {
  sp_free(p->set_a.v);
  sp_free(p->set_b.v);
  p->set_a = (sp_index_set){columns, num_columns};
  p->set_b = (sp_index_set){offsets, num_offsets};
}

static sparsa_status sp_check_tile_dims(const char *fn, int32_t block_rows, int32_t block_cols,
                                        int64_t num_row_blocks) {
  if (block_rows < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: block_rows = %d: must be >= 1", fn,
                   (int)block_rows);
  if (block_cols < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: block_cols = %d: must be >= 1", fn,
                   (int)block_cols);
  if (num_row_blocks < 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: num_row_blocks = %lld: must be >= 0", fn,
                   (long long)num_row_blocks);
  return SPARSA_OK;
}

/* Sorts and deduplicates each row's columns in place, compacting col and
 * rewriting row_ptr; records the largest column. */
static void sp_bsr_canonicalize(sp_bsr *b) {
  int64_t w = 0;
  b->max_col = -1;
  for (int64_t r = 0; r < b->num_row_blocks; r++) {
    int64_t s = b->row_ptr[r], e = b->row_ptr[r + 1];
    b->row_ptr[r] = w;
    /* Rows usually arrive sorted (estimators, exports, pattern files):
     * checking costs a pass, sorting a sorted row far more. */
    int64_t sorted_to = s + 1;
    while (sorted_to < e && b->col[sorted_to - 1] <= b->col[sorted_to]) sorted_to++;
    if (sorted_to < e) qsort(b->col + s, (size_t)(e - s), sizeof(int32_t), sp_cmp_i32);
    for (int64_t k = s; k < e; k++) {
      if (k > s && b->col[k] == b->col[k - 1]) continue;
      b->col[w++] = b->col[k];
      if (b->col[k] > b->max_col) b->max_col = b->col[k];
    }
  }
  b->row_ptr[b->num_row_blocks] = w;
}

SPARSA_API sparsa_status sparsa_pattern_create_blocks_bsr(int32_t block_rows, int32_t block_cols,
                                                          int64_t num_row_blocks,
                                                          const int64_t *row_ptr,
                                                          const int32_t *col_idx,
                                                          sparsa_pattern **out) {
  const char *fn = __func__;
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_TRY(sp_check_tile_dims(fn, block_rows, block_cols, num_row_blocks));
  if (row_ptr == NULL)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "%s: row_ptr is NULL (it needs num_row_blocks + 1 = %lld entries)", fn,
                   (long long)num_row_blocks + 1);
  if (row_ptr[0] != 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: row_ptr[0] = %lld: must be 0", fn,
                   (long long)row_ptr[0]);
  for (int64_t r = 0; r < num_row_blocks; r++)
    if (row_ptr[r + 1] < row_ptr[r])
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "%s: row_ptr[%lld] = %lld < row_ptr[%lld] = %lld: must be non-decreasing", fn,
                     (long long)r + 1, (long long)row_ptr[r + 1], (long long)r,
                     (long long)row_ptr[r]);
  int64_t nnz = row_ptr[num_row_blocks];
  if (nnz > 0 && col_idx == NULL)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: col_idx is NULL with %lld entries", fn,
                   (long long)nnz);
  for (int64_t k = 0; k < nnz; k++)
    if (col_idx[k] < 0)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: col_idx[%lld] = %d: must be >= 0", fn,
                     (long long)k, (int)col_idx[k]);
  sparsa_pattern *p = NULL;
  SP_TRY(sp_pattern_alloc(fn, SPARSA_PATTERN_BLOCKS, &p));
  sp_bsr *b = &p->bsr;
  b->block_rows = block_rows;
  b->block_cols = block_cols;
  b->num_row_blocks = num_row_blocks;
  b->row_ptr = sp_malloc(sp_mul_size((size_t)num_row_blocks + 1, sizeof(int64_t)));
  b->col = sp_malloc(sp_mul_size((size_t)nnz, sizeof(int32_t)));
  if (b->row_ptr == NULL || b->col == NULL) {
    sp_pattern_free(p);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "%s: copying %lld rows and %lld tiles", fn,
                   (long long)num_row_blocks, (long long)nnz);
  }
  memcpy(b->row_ptr, row_ptr, ((size_t)num_row_blocks + 1) * sizeof(int64_t));
  if (nnz > 0) memcpy(b->col, col_idx, (size_t)nnz * sizeof(int32_t));
  sp_bsr_canonicalize(b);
  *out = p;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_create_blocks_bitmap(int32_t block_rows,
                                                             int32_t block_cols,
                                                             int64_t num_row_blocks,
                                                             int64_t num_col_blocks,
                                                             const uint8_t *bitmap,
                                                             sparsa_pattern **out) {
  const char *fn = __func__;
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_TRY(sp_check_tile_dims(fn, block_rows, block_cols, num_row_blocks));
  if (num_col_blocks < 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: num_col_blocks = %lld: must be >= 0", fn,
                   (long long)num_col_blocks);
  if (num_col_blocks > INT32_MAX)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: num_col_blocks = %lld: must be < 2^31", fn,
                   (long long)num_col_blocks);
  if (num_row_blocks > 0 && num_col_blocks > INT64_MAX / num_row_blocks)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "%s: num_row_blocks * num_col_blocks = %lld * %lld overflows", fn,
                   (long long)num_row_blocks, (long long)num_col_blocks);
  int64_t cells = num_row_blocks * num_col_blocks;
  if (cells > 0 && bitmap == NULL)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: bitmap is NULL with %lld cells", fn,
                   (long long)cells);
  int64_t nnz = 0;
  for (int64_t k = 0; k < cells; k++) nnz += bitmap[k] != 0;
  sparsa_pattern *p = NULL;
  SP_TRY(sp_pattern_alloc(fn, SPARSA_PATTERN_BLOCKS, &p));
  sp_bsr *b = &p->bsr;
  b->block_rows = block_rows;
  b->block_cols = block_cols;
  b->num_row_blocks = num_row_blocks;
  b->row_ptr = sp_malloc(sp_mul_size((size_t)num_row_blocks + 1, sizeof(int64_t)));
  b->col = sp_malloc(sp_mul_size((size_t)nnz, sizeof(int32_t)));
  if (b->row_ptr == NULL || b->col == NULL) {
    sp_pattern_free(p);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "%s: converting a %lld x %lld bitmap", fn,
                   (long long)num_row_blocks, (long long)num_col_blocks);
  }
  int64_t w = 0;
  b->max_col = -1;
  for (int64_t r = 0; r < num_row_blocks; r++) {
    b->row_ptr[r] = w;
    const uint8_t *row = bitmap + r * num_col_blocks;
    for (int64_t c = 0; c < num_col_blocks; c++)
      if (row[c]) {
        b->col[w++] = (int32_t)c;
        if (c > b->max_col) b->max_col = (int32_t)c;
      }
  }
  b->row_ptr[num_row_blocks] = w;
  *out = p;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_create_neighborhood(const sparsa_neighborhood *params,
                                                            sparsa_pattern **out) {
  const char *fn = __func__;
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(params);
  if (params->struct_size < sizeof(sparsa_neighborhood))
    return sp_fail(SPARSA_ERR_VERSION,
                   "%s: params->struct_size = %u: must be sizeof(sparsa_neighborhood) = %u", fn,
                   (unsigned)params->struct_size, (unsigned)sizeof(sparsa_neighborhood));
  int32_t nd = params->num_dims;
  if (nd < 1 || nd > 3)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: params->num_dims = %d: must be 1, 2 or 3",
                   fn, (int)nd);
  if (params->reserved != 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: params->reserved = %d: must be 0", fn,
                   (int)params->reserved);
  int64_t cells = 1;
  for (int32_t a = 0; a < nd; a++) {
    if (params->extent[a] < 1 || params->extent[a] > INT32_MAX)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "%s: params->extent[%d] = %lld: must be 1 to 2^31 - 1", fn, (int)a,
                     (long long)params->extent[a]);
    if (params->kernel[a] < 1)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: params->kernel[%d] = %lld: must be >= 1",
                     fn, (int)a, (long long)params->kernel[a]);
    if (params->dilation[a] < 1)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "%s: params->dilation[%d] = %lld: must be >= 1", fn, (int)a,
                     (long long)params->dilation[a]);
    cells *= params->extent[a];
    if (cells > INT32_MAX)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                     "%s: the grid has more than 2^31 - 1 cells (extents up to axis %d)", fn,
                     (int)a);
  }
  sparsa_pattern *p = NULL;
  SP_TRY(sp_pattern_alloc(fn, SPARSA_PATTERN_NEIGHBORHOOD, &p));
  sp_nbhd *nb = &p->nbhd;
  nb->num_dims = nd;
  int32_t shift = 3 - nd; /* given axis a becomes internal axis a + shift */
  for (int a = 0; a < 3; a++) {
    nb->extent[a] = 1;
    nb->kernel[a] = 1;
    nb->dilation[a] = 1;
    nb->causal[a] = 0;
  }
  for (int32_t a = 0; a < nd; a++) {
    nb->extent[a + shift] = params->extent[a];
    nb->kernel[a + shift] = sp_cap(params->kernel[a]);
    /* A dilation past the extent puts every coordinate in its own residue
     * class, exactly as a dilation equal to the extent does. */
    nb->dilation[a + shift] = params->dilation[a] < params->extent[a] ? params->dilation[a]
                                                                       : params->extent[a];
    nb->causal[a + shift] = params->causal[a] != 0;
  }
  nb->stride[2] = 1;
  nb->stride[1] = nb->extent[2];
  nb->stride[0] = nb->extent[1] * nb->extent[2];
  *out = p;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_create_radial(int64_t frame_tokens, int64_t window,
                                                      int64_t max_frames, sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_TRY(sp_check_extent(__func__, "frame_tokens", frame_tokens, 1));
  SP_TRY(sp_check_extent(__func__, "window", window, 0));
  SP_TRY(sp_check_extent(__func__, "max_frames", max_frames, 0));
  SP_TRY(sp_pattern_alloc(__func__, SPARSA_PATTERN_RADIAL, out));
  (*out)->u.radial.frame_tokens = frame_tokens;
  (*out)->u.radial.window = window;
  (*out)->u.radial.max_frames = max_frames;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_create_power(int64_t local, sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_TRY(sp_check_extent(__func__, "local", local, 0));
  SP_TRY(sp_pattern_alloc(__func__, SPARSA_PATTERN_POWER, out));
  (*out)->u.power.local = local;
  return SPARSA_OK;
}

static sparsa_status sp_make_combination(const char *fn, sparsa_pattern_kind kind,
                                         const sparsa_pattern *const *parts, int32_t num_parts,
                                         sparsa_pattern **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(parts);
  if (num_parts < 1 || num_parts > SP_MAX_PARTS)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: num_parts = %d: must be 1 to %d", fn,
                   (int)num_parts, SP_MAX_PARTS);
  for (int32_t k = 0; k < num_parts; k++)
    if (parts[k] == NULL)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: parts[%d] is NULL", fn, (int)k);
  sparsa_pattern *p = NULL;
  SP_TRY(sp_pattern_alloc(fn, kind, &p));
  p->parts = sp_malloc((size_t)num_parts * sizeof *p->parts);
  if (p->parts == NULL) {
    sp_pattern_free(p);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "%s: allocating %d parts", fn, (int)num_parts);
  }
  for (int32_t k = 0; k < num_parts; k++) {
    sp_pattern_retain(parts[k]);
    p->parts[k] = parts[k];
  }
  p->num_parts = num_parts;
  *out = p;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_create_union(const sparsa_pattern *const *parts,
                                                     int32_t num_parts, sparsa_pattern **out) {
  return sp_make_combination(__func__, SPARSA_PATTERN_UNION, parts, num_parts, out);
}

SPARSA_API sparsa_status sparsa_pattern_create_intersection(const sparsa_pattern *const *parts,
                                                            int32_t num_parts,
                                                            sparsa_pattern **out) {
  return sp_make_combination(__func__, SPARSA_PATTERN_INTERSECTION, parts, num_parts, out);
}

SPARSA_API sparsa_status sparsa_pattern_get_kind(const sparsa_pattern *pattern,
                                                 sparsa_pattern_kind *out) {
  SP_CHECK_NULL(pattern);
  SP_CHECK_NULL(out);
  *out = pattern->kind;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_pattern_is_visible(const sparsa_pattern *pattern, int64_t q_len,
                                                   int64_t kv_len, int32_t top_left, int64_t i,
                                                   int64_t j, int32_t *visible) {
  const char *fn = __func__;
  SP_CHECK_NULL(pattern);
  SP_CHECK_NULL(visible);
  if (q_len < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: q_len = %lld: must be >= 1", fn,
                   (long long)q_len);
  if (kv_len < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: kv_len = %lld: must be >= 1", fn,
                   (long long)kv_len);
  if (i < 0 || i >= q_len)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: i = %lld: must be in [0, q_len = %lld)", fn,
                   (long long)i, (long long)q_len);
  if (j < 0 || j >= kv_len)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: j = %lld: must be in [0, kv_len = %lld)",
                   fn, (long long)j, (long long)kv_len);
  sp_geom g = sp_geom_make(q_len, kv_len,
                           top_left ? SPARSA_ALIGN_TOP_LEFT : SPARSA_ALIGN_BOTTOM_RIGHT);
  /* A neighborhood grid that does not match the lengths has no rule. */
  SP_TRY(sp_pattern_check_geometry(pattern, &g));
  *visible = sp_pattern_visible(pattern, &g, i, j);
  return SPARSA_OK;
}

sparsa_status sp_pattern_check_geometry(const sparsa_pattern *p, const sp_geom *g) {
  switch (p->kind) {
    case SPARSA_PATTERN_NEIGHBORHOOD: {
      const sp_nbhd *nb = &p->nbhd;
      int64_t cells = nb->extent[0] * nb->extent[1] * nb->extent[2];
      if (cells != g->q_len || cells != g->kv_len)
        return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                       "neighborhood pattern: the grid has %lld cells but q_len = %lld and "
                       "kv_len = %lld: both must equal it",
                       (long long)cells, (long long)g->q_len, (long long)g->kv_len);
      return SPARSA_OK;
    }
    case SPARSA_PATTERN_BLOCKS: {
      const sp_bsr *b = &p->bsr;
      if (b->max_col >= 0 && (int64_t)b->max_col * b->block_cols >= g->kv_len)
        return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                       "block-sparse pattern: column block %d starts at key %lld, past kv_len = "
                       "%lld",
                       (int)b->max_col, (long long)b->max_col * b->block_cols,
                       (long long)g->kv_len);
      return SPARSA_OK;
    }
    case SPARSA_PATTERN_UNION:
    case SPARSA_PATTERN_INTERSECTION:
      for (int32_t k = 0; k < p->num_parts; k++) SP_TRY(sp_pattern_check_geometry(p->parts[k], g));
      return SPARSA_OK;
    default:
      return SPARSA_OK;
  }
}
