/* Block lists from patterns: per head and query block, the candidate runs of
 * pattern_spans.c turned into entries. Runs already known full or partial
 * are written directly; only CHECK runs are classified block by block. */
#include <string.h>

#include "alloc.h"
#include "block_list.h"
#include "error.h"
#include "pattern_internal.h"
#include "pattern_spans.h"

typedef struct sp_entries {
  int32_t *col;
  uint8_t *full;
  int64_t n, cap;
} sp_entries;

static sparsa_status sp_entries_reserve(sp_entries *e, int64_t extra) {
  if (e->n + extra <= e->cap) return SPARSA_OK;
  int64_t cap = e->cap ? e->cap : 1024;
  while (cap < e->n + extra) cap *= 2;
  int32_t *col = sp_realloc(e->col, sp_mul_size((size_t)cap, sizeof(int32_t)));
  if (col == NULL) goto fail;
  e->col = col;
  uint8_t *full = sp_realloc(e->full, (size_t)cap);
  if (full == NULL) goto fail;
  e->full = full;
  e->cap = cap;
  return SPARSA_OK;
fail:
  return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask building: growing the block list to %lld entries",
                 (long long)cap);
}

/* A first capacity for one head; see the reserve after the first head. */
static int64_t sp_initial_capacity(int64_t rows, int64_t num_kv_blocks) {
  int64_t guess = rows * (num_kv_blocks < 8 ? num_kv_blocks : 8);
  return guess < 1024 ? 1024 : guess;
}

/* Block-sparse tiles that are whole multiples of the mask's blocks (rows
 * covering whole query blocks, columns m key blocks wide): each listed
 * tile is m full blocks, in the order of the pattern's sorted row. */
static int sp_tiles_cover_blocks(const sparsa_pattern *p, const sp_tiling *t) {
  if (p->kind != SPARSA_PATTERN_BLOCKS) return 0;
  const sp_bsr *b = &p->bsr;
  return b->block_cols % t->block_kv == 0 && b->block_rows % t->block_q == 0 &&
         (int64_t)b->max_col * (b->block_cols / t->block_kv) < t->num_kv_blocks;
}

static sparsa_status sp_copy_tile_row(const sp_bsr *b, const sp_tiling *t, int64_t qb,
                                      sp_entries *e) {
  int64_t r = qb * t->block_q / b->block_rows;
  if (r >= b->num_row_blocks) return SPARSA_OK;
  const int32_t *col = b->col + b->row_ptr[r];
  int64_t n = b->row_ptr[r + 1] - b->row_ptr[r], m = b->block_cols / t->block_kv;
  SP_TRY(sp_entries_reserve(e, n * m));
  if (m == 1) {
    memcpy(e->col + e->n, col, (size_t)n * sizeof(int32_t));
    memset(e->full + e->n, 1, (size_t)n);
    e->n += n;
    return SPARSA_OK;
  }
  for (int64_t k = 0; k < n; k++) {
    int64_t b0 = (int64_t)col[k] * m, b1 = b0 + m < t->num_kv_blocks ? b0 + m : t->num_kv_blocks;
    for (int64_t blk = b0; blk < b1; blk++) {
      e->col[e->n] = (int32_t)blk;
      e->full[e->n++] = 1;
    }
  }
  return SPARSA_OK;
}

static sparsa_status sp_build_row(const sparsa_pattern *p, const sp_span_prep *prep,
                                  const sp_tiling *t, int64_t qb, sp_spans *spans,
                                  sp_entries *e) {
  if (sp_tiles_cover_blocks(p, t)) return sp_copy_tile_row(&p->bsr, t, qb, e);
  spans->n = 0;
  SP_TRY(sp_pattern_spans(p, prep, t, qb, spans));
  int64_t q0 = qb * t->block_q, q1 = q0 + t->block_q;
  if (q1 > t->g.q_len) q1 = t->g.q_len;
  for (int64_t s = 0; s < spans->n; s++) {
    const sp_span *sp = &spans->v[s];
    int64_t len = sp->b1 - sp->b0;
    SP_TRY(sp_entries_reserve(e, len));
    int32_t *col = e->col + e->n;
    uint8_t *full = e->full + e->n;
    if (sp->cls != SP_SPAN_CHECK) {
      for (int64_t k = 0; k < len; k++) col[k] = (int32_t)(sp->b0 + k);
      memset(full, sp->cls == SP_SPAN_FULL, (size_t)len);
      e->n += len;
      continue;
    }
    int64_t w = 0;
    for (int64_t b = sp->b0; b < sp->b1; b++) {
      int64_t k0 = b * t->block_kv, k1 = k0 + t->block_kv;
      if (k1 > t->g.kv_len) k1 = t->g.kv_len;
      sp_block_class c = sp_pattern_classify(p, &t->g, q0, q1, k0, k1);
      if (c == SP_BLOCK_EMPTY) continue;
      col[w] = (int32_t)b;
      full[w] = c == SP_BLOCK_FULL;
      w++;
    }
    e->n += w;
  }
  return SPARSA_OK;
}

/* Head h repeats an earlier head's pattern object (a pattern shared by
 * several heads): its rows are a copy. Returns that head, or -1. */
static int32_t sp_same_pattern_before(const sparsa_pattern *const *patterns, int32_t h) {
  for (int32_t k = h - 1; k >= 0; k--)
    if (patterns[k] == patterns[h]) return k;
  return -1;
}

static sparsa_status sp_copy_head(int64_t *row_ptr, int64_t num_q_blocks, int32_t from,
                                  int32_t h, sp_entries *e) {
  const int64_t *src = row_ptr + (int64_t)from * num_q_blocks;
  int64_t first = src[0], n = src[num_q_blocks] - first, shift = e->n - first;
  SP_TRY(sp_entries_reserve(e, n));
  memcpy(e->col + e->n, e->col + first, (size_t)n * sizeof(int32_t));
  memcpy(e->full + e->n, e->full + first, (size_t)n);
  e->n += n;
  int64_t *dst = row_ptr + (int64_t)h * num_q_blocks;
  for (int64_t r = 1; r <= num_q_blocks; r++) dst[r] = src[r] + shift;
  return SPARSA_OK;
}

sparsa_status sp_block_list_build(const sparsa_pattern *const *patterns, int32_t num_heads,
                                  const sp_geom *g, int32_t block_q, int32_t block_kv,
                                  sp_block_list *out) {
  memset(out, 0, sizeof *out);
  sp_tiling t = sp_tiling_make(g, block_q, block_kv);
  int64_t rows = (int64_t)num_heads * t.num_q_blocks;
  int64_t *row_ptr = sp_malloc(sp_mul_size((size_t)rows + 1, sizeof(int64_t)));
  if (row_ptr == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask building: allocating %lld row offsets",
                   (long long)rows + 1);
  sp_entries e = {0};
  sp_spans spans = {0};
  sparsa_status st = sp_entries_reserve(&e, sp_initial_capacity(t.num_q_blocks, t.num_kv_blocks));
  row_ptr[0] = 0;
  for (int32_t h = 0; h < num_heads && st == SPARSA_OK; h++) {
    int32_t same = h > 0 ? sp_same_pattern_before(patterns, h) : -1;
    if (same >= 0) {
      st = sp_copy_head(row_ptr, t.num_q_blocks, same, h, &e);
      continue;
    }
    sp_span_prep *prep = NULL;
    st = sp_span_prep_create(patterns[h], &t, &prep);
    for (int64_t qb = 0; qb < t.num_q_blocks && st == SPARSA_OK; qb++) {
      st = sp_build_row(patterns[h], prep, &t, qb, &spans, &e);
      if (st != SPARSA_OK) break;
      row_ptr[h * t.num_q_blocks + qb + 1] = e.n;
      /* Heads of one mask tend to have similar densities: size the list
       * for all of them once the first is known. */
      if (h == 0 && qb == t.num_q_blocks - 1 && num_heads > 1)
        st = sp_entries_reserve(&e, e.n * (num_heads - 1) + e.n / 8 + 1024);
    }
    sp_span_prep_free(prep);
  }
  sp_spans_free(&spans);
  if (st != SPARSA_OK) {
    sp_free(row_ptr);
    sp_free(e.col);
    sp_free(e.full);
    return st;
  }
  int64_t num_full = 0;
  for (int64_t k = 0; k < e.n; k++) num_full += e.full[k];
  out->num_heads = num_heads;
  out->block_q = block_q;
  out->block_kv = block_kv;
  out->num_q_blocks = t.num_q_blocks;
  out->num_kv_blocks = t.num_kv_blocks;
  out->row_ptr = row_ptr;
  out->col = e.col;
  out->full = e.full;
  out->num_full = num_full;
  out->num_partial = e.n - num_full;
  return SPARSA_OK;
}

void sp_block_list_free(sp_block_list *list) {
  if (list == NULL) return;
  sp_free(list->row_ptr);
  sp_free(list->col);
  sp_free(list->full);
  memset(list, 0, sizeof *list);
}
