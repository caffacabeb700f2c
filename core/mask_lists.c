/* Masks made from an engine's block lists (an estimate on the device):
 * the block lists are read from the per-block lists the engine hands
 * over, in one pass over their blocks, and the patterns, which only some
 * consumers read (plans, exact token densities), are derived from the
 * lists on first request. Nothing here costs heads x query blocks x key
 * blocks: a mask of 10% of the blocks costs its blocks. */
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "mask.h"

/* Runs of one class of consecutive blocks, from the per-block lists;
 * checks what the engine handed over (ascending key blocks in range). */
static sparsa_status sp_runs_from_lists(const sp_block_csr *lists, sp_block_list *b) {
  const int64_t rows = (int64_t)b->num_heads * b->num_q_blocks;
  const int64_t *rp = lists->row_ptr;
  if (rp[0] != 0)
    return sp_fail(SPARSA_ERR_INTERNAL, "mask from lists: the lists start at %lld", (long long)rp[0]);
  int64_t runs = 0;
  for (int64_t r = 0; r < rows; r++) {
    if (rp[r + 1] < rp[r])
      return sp_fail(SPARSA_ERR_INTERNAL, "mask from lists: row %lld ends before it starts",
                     (long long)r);
    for (int64_t e = rp[r]; e < rp[r + 1]; e++) {
      const int32_t c = lists->col[e];
      if (c < 0 || c >= b->num_kv_blocks || (e > rp[r] && c <= lists->col[e - 1]))
        return sp_fail(SPARSA_ERR_INTERNAL,
                       "mask from lists: row %lld lists key block %d out of order or range",
                       (long long)r, (int)c);
      runs += e == rp[r] || c != lists->col[e - 1] + 1 || lists->full[e] != lists->full[e - 1];
    }
  }
  b->run_ptr = sp_malloc(sp_mul_size((size_t)rows + 1, sizeof *b->run_ptr));
  b->runs = sp_malloc(sp_mul_size((size_t)(runs ? runs : 1), sizeof *b->runs));
  if (b->run_ptr == NULL || b->runs == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask from lists: allocating %lld runs",
                   (long long)runs);
  int64_t n = 0, full = 0;
  b->run_ptr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t e = rp[r]; e < rp[r + 1]; e++) {
      const int64_t c = lists->col[e];
      const int f = lists->full[e] != 0;
      full += f;
      if (e > rp[r] && c == sp_block_run_end(b->runs[n - 1]) && f == sp_block_run_full(b->runs[n - 1]))
        b->runs[n - 1] = sp_block_run_make(b->runs[n - 1].begin, c + 1, f);
      else
        b->runs[n++] = sp_block_run_make(c, c + 1, f);
    }
    b->run_ptr[r + 1] = n;
  }
  b->num_full = full;
  b->num_partial = rp[rows] - full;
  return SPARSA_OK;
}

sparsa_status sp_mask_lists_begin(sparsa_context *ctx, const sp_mask_lists_desc *d,
                                  sparsa_mask **out) {
  *out = NULL;
  sparsa_mask *m = sp_calloc(1, sizeof *m);
  if (m == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask from lists: allocating the mask");
  sp_ref_init(&m->refs);
  atomic_init(&m->token_density, NULL);
  atomic_init(&m->derived_patterns, NULL);
  atomic_init(&m->blocks.entries, NULL);
  sp_context_retain(ctx);
  m->ctx = ctx;
  m->alignment = SPARSA_ALIGN_BOTTOM_RIGHT;
  m->geom = sp_geom_make(d->q_len, d->kv_len, m->alignment);
  m->lists_causal = d->causal != 0;
  sp_block_list *b = &m->blocks;
  b->num_heads = d->num_heads;
  b->block_q = d->block_q;
  b->block_kv = d->block_kv;
  b->num_q_blocks = (d->q_len + d->block_q - 1) / d->block_q;
  b->num_kv_blocks = (d->kv_len + d->block_kv - 1) / d->block_kv;
  *out = m;
  return SPARSA_OK;
}

sparsa_status sp_mask_lists_finish(sparsa_mask *m, sp_block_csr *lists) {
  sp_block_list *b = &m->blocks;
  b->row_ptr = lists->row_ptr; /* taken as it is */
  sparsa_status st = sp_runs_from_lists(lists, b);
  sp_free(lists->col);
  sp_free(lists->full);
  memset(lists, 0, sizeof *lists);
  return st;
}

/* Head h's pattern: its listed blocks, intersected with causal. */
static sparsa_status sp_head_pattern_from_lists(const sparsa_mask *m, int32_t h,
                                                const sparsa_pattern *causal,
                                                sparsa_pattern **out) {
  *out = NULL;
  const sp_block_list *b = &m->blocks;
  const int64_t row0 = (int64_t)h * b->num_q_blocks, base = b->row_ptr[row0];
  const int64_t n = b->row_ptr[row0 + b->num_q_blocks] - base;
  int64_t *row_ptr = sp_malloc(sp_mul_size((size_t)b->num_q_blocks + 1, sizeof *row_ptr));
  int32_t *col = sp_malloc(sp_mul_size((size_t)(n ? n : 1), sizeof *col));
  sparsa_status st = SPARSA_OK;
  if (row_ptr == NULL || col == NULL)
    st = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask: allocating the lists of head %d's pattern",
                 (int)h);
  if (st == SPARSA_OK) {
    for (int64_t r = 0; r <= b->num_q_blocks; r++) row_ptr[r] = b->row_ptr[row0 + r] - base;
    sp_block_list_expand(b, b->run_ptr[row0], b->run_ptr[row0 + b->num_q_blocks], col, NULL);
    sparsa_pattern *blocks = NULL;
    st = sparsa_pattern_create_blocks_bsr(b->block_q, b->block_kv, b->num_q_blocks, row_ptr, col,
                                          &blocks);
    if (st == SPARSA_OK && causal == NULL) {
      *out = blocks;
    } else if (st == SPARSA_OK) {
      const sparsa_pattern *parts[2] = {blocks, causal};
      st = sparsa_pattern_create_intersection(parts, 2, out);
      sparsa_pattern_destroy(blocks);
    }
  }
  sp_free(row_ptr);
  sp_free(col);
  return st;
}

static void sp_patterns_free(const sparsa_pattern **p, int32_t n) {
  if (p == NULL) return;
  for (int32_t h = 0; h < n; h++) sparsa_pattern_destroy((sparsa_pattern *)p[h]);
  sp_free((void *)p);
}

sparsa_status sp_mask_patterns(const sparsa_mask *mask, const sparsa_pattern *const **out) {
  *out = NULL;
  if (mask->patterns != NULL) {
    *out = mask->patterns;
    return SPARSA_OK;
  }
  sparsa_mask *m = (sparsa_mask *)mask;
  const sparsa_pattern **p = atomic_load_explicit(&m->derived_patterns, memory_order_acquire);
  if (p != NULL) {
    *out = p;
    return SPARSA_OK;
  }
  const int32_t nh = m->blocks.num_heads;
  p = sp_calloc((size_t)nh, sizeof *p);
  if (p == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask: allocating %d head patterns", (int)nh);
  sparsa_pattern *causal = NULL;
  sparsa_status st = m->lists_causal ? sparsa_pattern_create_causal(&causal) : SPARSA_OK;
  for (int32_t h = 0; h < nh && st == SPARSA_OK; h++)
    st = sp_head_pattern_from_lists(m, h, causal, (sparsa_pattern **)&p[h]);
  sparsa_pattern_destroy(causal);
  if (st != SPARSA_OK) {
    sp_patterns_free(p, nh);
    return st;
  }
  /* Concurrent first callers may derive twice; all read one set. */
  const sparsa_pattern **expected = NULL;
  if (!atomic_compare_exchange_strong_explicit(&m->derived_patterns, &expected, p,
                                               memory_order_acq_rel, memory_order_acquire)) {
    sp_patterns_free(p, nh);
    p = expected;
  }
  *out = p;
  return SPARSA_OK;
}

void sp_mask_derived_patterns_free(sparsa_mask *m) {
  sp_patterns_free(atomic_load(&m->derived_patterns), m->blocks.num_heads);
  atomic_store(&m->derived_patterns, NULL);
}
