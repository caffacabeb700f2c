/* Head specs: turning a kind + parameters into a pattern or a mask, deep
 * copies, and the one-record serialization shared by both file formats. */
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "pattern_file.h"

void sp_head_spec_free(sp_head_spec *spec) {
  if (spec == NULL) return;
  sp_free(spec->columns);
  sp_free(spec->offsets);
  sp_free(spec->row_ptr);
  sp_free(spec->col_idx);
  memset(spec, 0, sizeof *spec);
}

static void *sp_dup(const void *src, size_t count, size_t size, int *failed) {
  if (count == 0 || src == NULL) return NULL;
  void *dst = sp_malloc(sp_mul_size(count, size));
  if (dst == NULL) {
    *failed = 1;
    return NULL;
  }
  memcpy(dst, src, count * size);
  return dst;
}

sparsa_status sp_head_spec_copy(const sp_head_spec *src, sp_head_spec *dst) {
  *dst = *src;
  dst->columns = dst->offsets = dst->row_ptr = NULL;
  dst->col_idx = NULL;
  int failed = 0;
  dst->columns = sp_dup(src->columns, (size_t)src->num_columns, sizeof(int64_t), &failed);
  dst->offsets = sp_dup(src->offsets, (size_t)src->num_offsets, sizeof(int64_t), &failed);
  if (src->kind == SPARSA_HEAD_BLOCKS) {
    dst->row_ptr = sp_dup(src->row_ptr, (size_t)src->num_rows + 1, sizeof(int64_t), &failed);
    dst->col_idx =
        sp_dup(src->col_idx, (size_t)src->row_ptr[src->num_rows], sizeof(int32_t), &failed);
  }
  if (failed) {
    sp_head_spec_free(dst);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "copying a head pattern spec");
  }
  return SPARSA_OK;
}

int sp_head_spec_is_structured(const sp_head_spec *spec) { return spec->kind != SPARSA_HEAD_BLOCKS; }

static int64_t sp_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

sparsa_status sp_head_spec_extend_kv(const sp_head_spec *src, int64_t old_kv_len,
                                     int64_t new_kv_len, sp_head_spec *dst) {
  if (src->kind != SPARSA_HEAD_BLOCKS || new_kv_len <= old_kv_len)
    return sp_head_spec_copy(src, dst);
  /* Key blocks [first_new, end) hold keys past the old length. */
  int64_t first_new = old_kv_len / src->block_cols, end = sp_ceil_div(new_kv_len, src->block_cols);
  int64_t added = end - first_new, rows = src->num_rows;
  *dst = *src;
  dst->columns = dst->offsets = NULL;
  dst->row_ptr = sp_malloc(sp_mul_size((size_t)rows + 1, sizeof *dst->row_ptr));
  dst->col_idx = sp_malloc(sp_mul_size((size_t)(src->row_ptr[rows] + rows * added),
                                       sizeof *dst->col_idx));
  if (dst->row_ptr == NULL || dst->col_idx == NULL) {
    sp_free(dst->row_ptr);
    sp_free(dst->col_idx);
    memset(dst, 0, sizeof *dst);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "extending a block pattern by %lld key blocks",
                   (long long)added);
  }
  int64_t n = 0;
  dst->row_ptr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t e = src->row_ptr[r]; e < src->row_ptr[r + 1]; e++)
      if (src->col_idx[e] < first_new) dst->col_idx[n++] = src->col_idx[e];
    for (int64_t c = first_new; c < end; c++) dst->col_idx[n++] = (int32_t)c;
    dst->row_ptr[r + 1] = n;
  }
  dst->mass = 0.0; /* measured on other lengths */
  dst->density = 0.0;
  return SPARSA_OK;
}


static double sp_min_d(double a, double b) { return a < b ? a : b; }

/* Per row of blocks: a key column lies in one key block; a diagonal, or a
 * token range (sink, window), crosses at most block_q / block_kv + 2 key
 * blocks of a row; a listed tile covers at most (block_rows / block_q + 2)
 * x (block_cols / block_kv + 2) mask blocks. */
double sp_head_spec_max_blocks(const sp_head_spec *spec, int64_t q_len, int64_t kv_len,
                               int32_t block_q, int32_t block_kv) {
  double rows = (double)sp_ceil_div(q_len, block_q), cols = (double)sp_ceil_div(kv_len, block_kv);
  double per_range = (double)block_q / block_kv + 2.0, grid = rows * cols;
  switch (spec->kind) {
    case SPARSA_HEAD_NONE: return 0.0;
    case SPARSA_HEAD_DENSE: return grid;
    case SPARSA_HEAD_SINK_WINDOW:
      return rows * sp_min_d(cols, (double)spec->sink / block_kv + (double)spec->window / block_kv +
                                       2.0 * per_range);
    case SPARSA_HEAD_VERTICAL_SLASH:
      return rows * sp_min_d(cols, (double)spec->num_columns + per_range * (double)spec->num_offsets);
    case SPARSA_HEAD_BLOCKS: {
      double tiles = (double)spec->row_ptr[spec->num_rows];
      double cover = ((double)spec->block_rows / block_q + 2.0) *
                     ((double)spec->block_cols / block_kv + 2.0);
      return sp_min_d(grid, tiles * cover);
    }
  }
  return grid;
}

/* Block tiles inside the grid of the given lengths, as a BSR pattern. */
static sparsa_status sp_blocks_pattern(const sp_head_spec *spec, int64_t q_len, int64_t kv_len,
                                       sparsa_pattern **out) {
  int64_t rows = spec->num_rows;
  int64_t max_rows = q_len == INT64_MAX ? rows : sp_ceil_div(q_len, spec->block_rows);
  int64_t max_cols = kv_len == INT64_MAX ? INT64_MAX : sp_ceil_div(kv_len, spec->block_cols);
  if (rows > max_rows) rows = max_rows;
  int64_t total = spec->row_ptr[rows];
  int64_t *row_ptr = sp_malloc(sp_mul_size((size_t)rows + 1, sizeof *row_ptr));
  int32_t *col = sp_malloc(sp_mul_size((size_t)total, sizeof *col));
  if (row_ptr == NULL || col == NULL) {
    sp_free(row_ptr);
    sp_free(col);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "building a block pattern of %lld tiles",
                   (long long)total);
  }
  int64_t n = 0;
  row_ptr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t e = spec->row_ptr[r]; e < spec->row_ptr[r + 1]; e++)
      if (spec->col_idx[e] < max_cols) col[n++] = spec->col_idx[e];
    row_ptr[r + 1] = n;
  }
  sparsa_status st = sparsa_pattern_create_blocks_bsr(spec->block_rows, spec->block_cols, rows,
                                                      row_ptr, col, out);
  sp_free(row_ptr);
  sp_free(col);
  return st;
}

/* 1 when the spec's columns all lie before kv_len (an estimate's always
 * do; a file's may have been searched at a longer length). */
static int sp_vslash_columns_within(const sp_head_spec *spec, int64_t kv_len) {
  for (int64_t c = 0; c < spec->num_columns; c++)
    if (spec->columns[c] >= kv_len) return 0;
  return 1;
}

/* Columns past kv_len see nothing; dropping them keeps masks valid at any
 * length. Specs with none are passed as they are: the pattern's copy is
 * then the only one (an estimate at threshold 0.9 keeps ~8,000 columns a
 * head, whose copies are fresh memory the host faults in page by page). */
static sparsa_status sp_vslash_pattern(const sp_head_spec *spec, int64_t kv_len,
                                       sparsa_pattern **out) {
  if (sp_vslash_columns_within(spec, kv_len))
    return sparsa_pattern_create_vertical_slash(spec->columns, spec->num_columns, spec->offsets,
                                                spec->num_offsets, out);
  int64_t *cols = sp_malloc(sp_mul_size((size_t)spec->num_columns, sizeof *cols));
  if (cols == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "building a vertical-slash pattern");
  int64_t n = 0;
  for (int64_t c = 0; c < spec->num_columns; c++)
    if (spec->columns[c] < kv_len) cols[n++] = spec->columns[c];
  sparsa_status st =
      sparsa_pattern_create_vertical_slash(cols, n, spec->offsets, spec->num_offsets, out);
  sp_free(cols);
  return st;
}

sparsa_status sp_head_spec_to_pattern(const sp_head_spec *spec, int64_t q_len, int64_t kv_len,
                                      sparsa_pattern **out) {
  *out = NULL;
  switch (spec->kind) {
    case SPARSA_HEAD_DENSE:
      return spec->causal ? sparsa_pattern_create_causal(out) : sparsa_pattern_create_dense(out);
    case SPARSA_HEAD_NONE: return sparsa_pattern_create_none(out);
    case SPARSA_HEAD_SINK_WINDOW:
      return sparsa_pattern_create_sink_window(spec->sink, spec->window, out);
    case SPARSA_HEAD_VERTICAL_SLASH: return sp_vslash_pattern(spec, kv_len, out);
    case SPARSA_HEAD_BLOCKS: {
      sparsa_pattern *blocks = NULL;
      SP_TRY(sp_blocks_pattern(spec, q_len, kv_len, &blocks));
      if (!spec->causal) {
        *out = blocks;
        return SPARSA_OK;
      }
      sparsa_pattern *causal = NULL;
      sparsa_status st = sparsa_pattern_create_causal(&causal);
      if (st == SPARSA_OK) {
        const sparsa_pattern *parts[2] = {blocks, causal};
        st = sparsa_pattern_create_intersection(parts, 2, out);
      }
      sparsa_pattern_destroy(blocks);
      sparsa_pattern_destroy(causal);
      return st;
    }
  }
  return sp_fail(SPARSA_ERR_INTERNAL, "head spec kind %d is unknown", (int)spec->kind);
}

sparsa_status sp_specs_create_mask(sparsa_context *ctx, const sp_head_spec *specs,
                                   int32_t num_heads, int64_t q_len, int64_t kv_len,
                                   int32_t block_q, int32_t block_kv, sparsa_mask **out) {
  *out = NULL;
  sparsa_pattern **patterns = sp_calloc((size_t)num_heads, sizeof *patterns);
  if (patterns == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "allocating %d head patterns", (int)num_heads);
  sparsa_status st = SPARSA_OK;
  for (int32_t h = 0; h < num_heads && st == SPARSA_OK; h++)
    st = sp_head_spec_to_pattern(&specs[h], q_len, kv_len, &patterns[h]);
  if (st == SPARSA_OK) {
    sparsa_mask_desc desc;
    sparsa_mask_desc_init(&desc);
    desc.num_heads = num_heads;
    desc.q_len = q_len;
    desc.kv_len = kv_len;
    desc.block_q = block_q;
    desc.block_kv = block_kv;
    desc.alignment = SPARSA_ALIGN_BOTTOM_RIGHT;
    desc.patterns = (const sparsa_pattern *const *)patterns;
    st = sparsa_mask_create(ctx, &desc, out);
  }
  for (int32_t h = 0; h < num_heads; h++) sparsa_pattern_destroy(patterns[h]);
  sp_free(patterns);
  return st;
}

void sp_head_spec_write(sp_writer *w, const sp_head_spec *spec) {
  sp_write_u32(w, (uint32_t)spec->kind);
  sp_write_i32(w, spec->causal ? 1 : 0);
  sp_write_f64(w, spec->mass);
  sp_write_f64(w, spec->density);
  switch (spec->kind) {
    case SPARSA_HEAD_SINK_WINDOW:
      sp_write_i64(w, spec->sink);
      sp_write_i64(w, spec->window);
      break;
    case SPARSA_HEAD_VERTICAL_SLASH:
      sp_write_i64(w, spec->num_columns);
      sp_write_i64(w, spec->num_offsets);
      for (int64_t i = 0; i < spec->num_columns; i++) sp_write_i64(w, spec->columns[i]);
      for (int64_t i = 0; i < spec->num_offsets; i++) sp_write_i64(w, spec->offsets[i]);
      break;
    case SPARSA_HEAD_BLOCKS:
      sp_write_i32(w, spec->block_rows);
      sp_write_i32(w, spec->block_cols);
      sp_write_i64(w, spec->num_rows);
      for (int64_t r = 0; r <= spec->num_rows; r++) sp_write_i64(w, spec->row_ptr[r]);
      for (int64_t e = 0; e < spec->row_ptr[spec->num_rows]; e++) sp_write_i32(w, spec->col_idx[e]);
      break;
    default: break;
  }
}

/* A count read from a file must fit in the bytes that remain, so a corrupt
 * count can never trigger a huge allocation. */
static int sp_count_fits(const sp_reader *r, int64_t count, size_t elem) {
  return count >= 0 && (uint64_t)count <= (r->size - r->pos) / elem;
}

#define SP_BAD(...)                                    \
  do {                                                 \
    sp_head_spec_free(spec);                           \
    return sp_fail(SPARSA_ERR_FORMAT, __VA_ARGS__);    \
  } while (0)

sparsa_status sp_head_spec_read(sp_reader *r, const char *what, int32_t index, sp_head_spec *spec) {
  memset(spec, 0, sizeof *spec);
  size_t at = r->pos;
  uint32_t kind = sp_read_u32(r);
  int32_t causal = sp_read_i32(r);
  spec->mass = sp_read_f64(r);
  spec->density = sp_read_f64(r);
  if (r->truncated) SP_BAD("%s %d at byte %zu: truncated", what, (int)index, at);
  if (kind > SPARSA_HEAD_NONE) SP_BAD("%s %d at byte %zu: unknown kind %u", what, (int)index, at, kind);
  if (causal != 0 && causal != 1)
    SP_BAD("%s %d at byte %zu: causal flag %d is not 0 or 1", what, (int)index, at, (int)causal);
  spec->kind = (sparsa_head_kind)kind;
  spec->causal = causal;
  switch (spec->kind) {
    case SPARSA_HEAD_SINK_WINDOW:
      spec->sink = sp_read_i64(r);
      spec->window = sp_read_i64(r);
      if (r->truncated) SP_BAD("%s %d: truncated sink-window parameters", what, (int)index);
      if (spec->sink < 0 || spec->window < 1)
        SP_BAD("%s %d: sink %lld / window %lld out of range", what, (int)index,
               (long long)spec->sink, (long long)spec->window);
      spec->causal = 1;
      break;
    case SPARSA_HEAD_VERTICAL_SLASH: {
      spec->num_columns = sp_read_i64(r);
      spec->num_offsets = sp_read_i64(r);
      if (r->truncated) SP_BAD("%s %d: truncated vertical-slash counts", what, (int)index);
      /* each count is checked alone first, so their sum cannot overflow */
      if (!sp_count_fits(r, spec->num_columns, 8) || !sp_count_fits(r, spec->num_offsets, 8) ||
          !sp_count_fits(r, spec->num_columns + spec->num_offsets, 8))
        SP_BAD("%s %d: %lld columns + %lld offsets exceed the remaining %zu bytes", what,
               (int)index, (long long)spec->num_columns, (long long)spec->num_offsets,
               r->size - r->pos);
      if (spec->num_columns > 0) spec->columns = sp_malloc((size_t)spec->num_columns * 8);
      if (spec->num_offsets > 0) spec->offsets = sp_malloc((size_t)spec->num_offsets * 8);
      if ((spec->num_columns > 0 && spec->columns == NULL) ||
          (spec->num_offsets > 0 && spec->offsets == NULL)) {
        sp_head_spec_free(spec);
        return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "%s %d: allocating columns", what, (int)index);
      }
      for (int64_t i = 0; i < spec->num_columns; i++) spec->columns[i] = sp_read_i64(r);
      for (int64_t i = 0; i < spec->num_offsets; i++) spec->offsets[i] = sp_read_i64(r);
      for (int64_t i = 0; i < spec->num_columns; i++)
        if (spec->columns[i] < 0) SP_BAD("%s %d: column %lld is negative", what, (int)index, (long long)i);
      for (int64_t i = 0; i < spec->num_offsets; i++)
        if (spec->offsets[i] < 0) SP_BAD("%s %d: offset %lld is negative", what, (int)index, (long long)i);
      spec->causal = 1;
      break;
    }
    case SPARSA_HEAD_BLOCKS: {
      spec->block_rows = sp_read_i32(r);
      spec->block_cols = sp_read_i32(r);
      spec->num_rows = sp_read_i64(r);
      if (r->truncated) SP_BAD("%s %d: truncated block header", what, (int)index);
      if (spec->block_rows < 1 || spec->block_cols < 1)
        SP_BAD("%s %d: tile %d x %d out of range", what, (int)index, (int)spec->block_rows,
               (int)spec->block_cols);
      if (!sp_count_fits(r, spec->num_rows, 8) || spec->num_rows + 1 < 1)
        SP_BAD("%s %d: %lld rows exceed the remaining bytes", what, (int)index,
               (long long)spec->num_rows);
      spec->row_ptr = sp_malloc(((size_t)spec->num_rows + 1) * 8);
      if (spec->row_ptr == NULL) {
        sp_head_spec_free(spec);
        return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "%s %d: allocating rows", what, (int)index);
      }
      for (int64_t i = 0; i <= spec->num_rows; i++) spec->row_ptr[i] = sp_read_i64(r);
      if (r->truncated) SP_BAD("%s %d: truncated row offsets", what, (int)index);
      if (spec->row_ptr[0] != 0) SP_BAD("%s %d: row_ptr[0] is not 0", what, (int)index);
      for (int64_t i = 0; i < spec->num_rows; i++)
        if (spec->row_ptr[i + 1] < spec->row_ptr[i])
          SP_BAD("%s %d: row_ptr decreases at row %lld", what, (int)index, (long long)i);
      int64_t nnz = spec->row_ptr[spec->num_rows];
      if (!sp_count_fits(r, nnz, 4))
        SP_BAD("%s %d: %lld tiles exceed the remaining bytes", what, (int)index, (long long)nnz);
      spec->col_idx = sp_malloc((size_t)nnz * 4);
      if (spec->col_idx == NULL) {
        sp_head_spec_free(spec);
        return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "%s %d: allocating tiles", what, (int)index);
      }
      for (int64_t e = 0; e < nnz; e++) {
        spec->col_idx[e] = sp_read_i32(r);
        if (spec->col_idx[e] < 0)
          SP_BAD("%s %d: tile %lld has a negative column", what, (int)index, (long long)e);
      }
      break;
    }
    default: break;
  }
  if (r->truncated) SP_BAD("%s %d: truncated", what, (int)index);
  return SPARSA_OK;
}
