/* Mask handles: validation of the description, the block lists, the
 * engine-side copy, and the queries (counts, densities, BSR export). */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "mask.h"

#define SP_MASK_DESC_MIN_SIZE ((uint32_t)sizeof(sparsa_mask_desc))
#define SP_MASK_INFO_MIN_SIZE ((uint32_t)sizeof(sparsa_mask_info))
#define SP_MAX_LEN ((int64_t)INT32_MAX)

SPARSA_API sparsa_status sparsa_mask_desc_init(sparsa_mask_desc *desc) {
  SP_CHECK_NULL(desc);
  memset(desc, 0, sizeof *desc);
  desc->struct_size = sizeof *desc;
  desc->num_heads = 1;
  desc->block_q = 64;
  desc->block_kv = 64;
  desc->alignment = SPARSA_ALIGN_BOTTOM_RIGHT;
  return SPARSA_OK;
}

static sparsa_status sp_check_block(const char *name, int32_t b) {
  if (b < 16 || b > 256 || (b & (b - 1)) != 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_mask_create: desc->%s = %d: must be a power of two from 16 to 256",
                   name, (int)b);
  return SPARSA_OK;
}

static sparsa_status sp_check_len(const char *name, int64_t len) {
  if (len < 1 || len >= SP_MAX_LEN + 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_mask_create: desc->%s = %lld: must be 1 to 2^31 - 1", name,
                   (long long)len);
  return SPARSA_OK;
}

static sparsa_status sp_check_desc(const sparsa_mask_desc *d) {
  if (d->struct_size < SP_MASK_DESC_MIN_SIZE)
    return sp_fail(SPARSA_ERR_VERSION,
                   "sparsa_mask_create: desc->struct_size = %u: must be at least %u "
                   "(sizeof(sparsa_mask_desc))",
                   (unsigned)d->struct_size, (unsigned)SP_MASK_DESC_MIN_SIZE);
  if (d->num_heads < 1)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "sparsa_mask_create: desc->num_heads = %d: must be >= 1",
                   (int)d->num_heads);
  SP_TRY(sp_check_len("q_len", d->q_len));
  SP_TRY(sp_check_len("kv_len", d->kv_len));
  SP_TRY(sp_check_block("block_q", d->block_q));
  SP_TRY(sp_check_block("block_kv", d->block_kv));
  if (d->alignment != SPARSA_ALIGN_BOTTOM_RIGHT && d->alignment != SPARSA_ALIGN_TOP_LEFT)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_mask_create: desc->alignment = %d: must be SPARSA_ALIGN_BOTTOM_RIGHT (0) "
                   "or SPARSA_ALIGN_TOP_LEFT (1)",
                   (int)d->alignment);
  if (d->reserved != 0)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "sparsa_mask_create: desc->reserved = %d: must be 0",
                   (int)d->reserved);
  if (d->patterns == NULL)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_mask_create: desc->patterns is NULL (num_heads = %d)", (int)d->num_heads);
  sp_geom g = sp_geom_make(d->q_len, d->kv_len, d->alignment);
  for (int32_t h = 0; h < d->num_heads; h++) {
    if (d->patterns[h] == NULL)
      return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "sparsa_mask_create: desc->patterns[%d] is NULL",
                     (int)h);
    sparsa_status st = sp_pattern_check_geometry(d->patterns[h], &g);
    if (st != SPARSA_OK) {
      char why[400];
      snprintf(why, sizeof why, "%s", sparsa_last_error());
      return sp_fail(st, "sparsa_mask_create: desc->patterns[%d]: %s", (int)h, why);
    }
  }
  return SPARSA_OK;
}

/* Frees what a mask holds, except the engine copy. */
static void sp_mask_free(sparsa_mask *m) {
  if (m->patterns != NULL)
    for (int32_t h = 0; h < m->blocks.num_heads; h++)
      sparsa_pattern_destroy((sparsa_pattern *)m->patterns[h]);
  sp_free((void *)m->patterns);
  sp_mask_derived_patterns_free(m);
  sp_mask_held_free(m);
  sp_mask_specs_free(m);
  sp_block_list_free(&m->blocks);
  sp_free(atomic_load(&m->token_density));
  if (m->ctx != NULL) sp_context_release(m->ctx);
  sp_free(m);
}

SPARSA_API sparsa_status sparsa_mask_create(sparsa_context *ctx, const sparsa_mask_desc *desc,
                                            sparsa_mask **out) {
  SP_CHECK_NULL(out);
  *out = NULL;
  SP_CHECK_NULL(ctx);
  SP_CHECK_NULL(desc);
  SP_TRY(sp_check_desc(desc));
  int32_t nh = desc->num_heads;
  sparsa_mask *m = sp_calloc(1, sizeof *m);
  if (m == NULL) return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_mask_create: allocating the mask");
  sp_ref_init(&m->refs);
  atomic_init(&m->token_density, NULL);
  atomic_init(&m->derived_patterns, NULL);
  atomic_init(&m->lists_state, SP_LISTS_READY); /* built below, from the patterns */
  m->alignment = desc->alignment;
  m->geom = sp_geom_make(desc->q_len, desc->kv_len, desc->alignment);
  m->patterns = sp_malloc((size_t)nh * sizeof *m->patterns);
  if (m->patterns == NULL) {
    sp_free(m);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_mask_create: allocating %d pattern slots",
                   (int)nh);
  }
  sparsa_status st = sp_block_list_build(desc->patterns, nh, &m->geom, desc->block_q,
                                         desc->block_kv, &m->blocks);
  if (st != SPARSA_OK) {
    sp_free((void *)m->patterns);
    sp_free(m);
    return st;
  }
  for (int32_t h = 0; h < nh; h++) {
    sp_pattern_retain(desc->patterns[h]);
    m->patterns[h] = desc->patterns[h];
  }
  sp_context_retain(ctx);
  m->ctx = ctx;
  if (ctx->ops->mask_init != NULL) {
    st = ctx->ops->mask_init(m);
    if (st != SPARSA_OK) {
      sp_mask_free(m);
      return st;
    }
  }
  *out = m;
  return SPARSA_OK;
}

void sp_mask_retain(const sparsa_mask *mask) { sp_ref_retain(&((sparsa_mask *)mask)->refs); }

void sp_mask_release(const sparsa_mask *mask) {
  sparsa_mask *m = (sparsa_mask *)mask;
  if (m == NULL || !sp_ref_release(&m->refs)) return;
  if (m->ctx->ops->mask_fini != NULL) m->ctx->ops->mask_fini(m);
  sp_mask_free(m);
}

SPARSA_API void sparsa_mask_destroy(sparsa_mask *mask) { sp_mask_release(mask); }

SPARSA_API sparsa_status sparsa_mask_get_info(const sparsa_mask *mask, sparsa_mask_info *info) {
  SP_CHECK_NULL(mask);
  SP_CHECK_NULL(info);
  if (info->struct_size < SP_MASK_INFO_MIN_SIZE)
    return sp_fail(SPARSA_ERR_VERSION,
                   "sparsa_mask_get_info: info->struct_size = %u: must be at least %u",
                   (unsigned)info->struct_size, (unsigned)SP_MASK_INFO_MIN_SIZE);
  const sp_block_list *b = NULL;
  SP_TRY(sp_mask_block_list(mask, &b));
  sparsa_mask_info v;
  memset(&v, 0, sizeof v);
  v.struct_size = info->struct_size;
  v.num_heads = mask->blocks.num_heads;
  v.q_len = mask->geom.q_len;
  v.kv_len = mask->geom.kv_len;
  v.block_q = mask->blocks.block_q;
  v.block_kv = mask->blocks.block_kv;
  v.num_q_blocks = mask->blocks.num_q_blocks;
  v.num_kv_blocks = mask->blocks.num_kv_blocks;
  v.num_full_blocks = b->num_full;
  v.num_partial_blocks = b->num_partial;
  v.alignment = mask->alignment;
  size_t n = info->struct_size < sizeof v ? info->struct_size : sizeof v;
  memcpy(info, &v, n);
  return SPARSA_OK;
}

static sparsa_status sp_check_head(const char *fn, const sparsa_mask *m, int32_t head,
                                   int allow_all) {
  if ((allow_all && head == -1) || (head >= 0 && head < m->blocks.num_heads)) return SPARSA_OK;
  return sp_fail(SPARSA_ERR_INVALID_ARGUMENT, "%s: head = %d: must be %s0 to %d", fn, (int)head,
                 allow_all ? "-1 or " : "", (int)m->blocks.num_heads - 1);
}

/* Entries [*first, *last) of head h. */
static void sp_head_range(const sp_block_list *b, int32_t h, int64_t *first, int64_t *last) {
  *first = b->row_ptr[(int64_t)h * b->num_q_blocks];
  *last = b->row_ptr[((int64_t)h + 1) * b->num_q_blocks];
}

SPARSA_API sparsa_status sparsa_mask_block_counts(const sparsa_mask *mask, int32_t head,
                                                  int64_t *num_full, int64_t *num_partial) {
  SP_CHECK_NULL(mask);
  SP_TRY(sp_check_head(__func__, mask, head, 0));
  const sp_block_list *b = NULL;
  SP_TRY(sp_mask_block_list(mask, &b));
  int64_t first, last, full = 0;
  sp_head_range(b, head, &first, &last);
  int64_t rows = (int64_t)head * b->num_q_blocks;
  for (int64_t k = b->run_ptr[rows]; k < b->run_ptr[rows + b->num_q_blocks]; k++)
    if (sp_block_run_full(b->runs[k])) full += sp_block_run_end(b->runs[k]) - b->runs[k].begin;
  if (num_full != NULL) *num_full = full;
  if (num_partial != NULL) *num_partial = last - first - full;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_mask_density(const sparsa_mask *mask, int32_t head, double *out) {
  SP_CHECK_NULL(mask);
  SP_CHECK_NULL(out);
  SP_TRY(sp_check_head(__func__, mask, head, 1));
  const sp_block_list *b = NULL;
  SP_TRY(sp_mask_block_list(mask, &b));
  double tiles = (double)b->num_q_blocks * (double)b->num_kv_blocks;
  int64_t first, last;
  if (head == -1) {
    first = 0;
    last = b->row_ptr[(int64_t)b->num_heads * b->num_q_blocks];
    tiles *= b->num_heads;
  } else {
    sp_head_range(b, head, &first, &last);
  }
  *out = (double)(last - first) / tiles;
  return SPARSA_OK;
}

/* Visible pairs of one head: full blocks by area, partial ones token by token. */
static int64_t sp_head_visible_pairs(const sparsa_mask *m, const sparsa_pattern *pattern,
                                     int32_t h, uint8_t *scratch) {
  const sp_block_list *b = &m->blocks;
  const sp_geom *g = &m->geom;
  int64_t total = 0;
  for (int64_t qb = 0; qb < b->num_q_blocks; qb++) {
    int64_t q0 = qb * b->block_q, nq = g->q_len - q0 < b->block_q ? g->q_len - q0 : b->block_q;
    int64_t row = (int64_t)h * b->num_q_blocks + qb;
    for (sp_block_cursor c = sp_block_cursor_at(b, row); c.block >= 0; sp_block_cursor_next(&c)) {
      int64_t k0 = c.block * b->block_kv;
      int64_t nk = g->kv_len - k0 < b->block_kv ? g->kv_len - k0 : b->block_kv;
      if (c.full) {
        total += nq * nk;
        continue;
      }
      sp_pattern_tile(pattern, g, q0, nq, k0, nk, scratch, nk);
      for (int64_t e = 0; e < nq * nk; e++) total += scratch[e];
    }
  }
  return total;
}

/* Per-head exact densities, computed by the first caller and published with
 * a compare-exchange: concurrent first callers may compute twice, but all
 * read one array. */
static sparsa_status sp_token_densities(const sparsa_mask *mask, const double **out) {
  sparsa_mask *m = (sparsa_mask *)mask;
  double *d = atomic_load_explicit(&m->token_density, memory_order_acquire);
  if (d != NULL) {
    *out = d;
    return SPARSA_OK;
  }
  const sparsa_pattern *const *patterns = NULL;
  SP_TRY(sp_mask_patterns(m, &patterns));
  int32_t nh = m->blocks.num_heads;
  d = sp_malloc((size_t)nh * sizeof *d);
  uint8_t *scratch = sp_malloc((size_t)m->blocks.block_q * (size_t)m->blocks.block_kv);
  if (d == NULL || scratch == NULL) {
    sp_free(d);
    sp_free(scratch);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "sparsa_mask_token_density: allocating %d densities",
                   (int)nh);
  }
  double pairs = (double)m->geom.q_len * (double)m->geom.kv_len;
  for (int32_t h = 0; h < nh; h++) d[h] = (double)sp_head_visible_pairs(m, patterns[h], h, scratch) / pairs;
  sp_free(scratch);
  double *expected = NULL;
  if (!atomic_compare_exchange_strong_explicit(&m->token_density, &expected, d,
                                               memory_order_acq_rel, memory_order_acquire)) {
    sp_free(d);
    d = expected;
  }
  *out = d;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_mask_token_density(const sparsa_mask *mask, int32_t head,
                                                   double *out) {
  SP_CHECK_NULL(mask);
  SP_CHECK_NULL(out);
  SP_TRY(sp_check_head(__func__, mask, head, 1));
  const double *d = NULL;
  SP_TRY(sp_token_densities(mask, &d));
  if (head >= 0) {
    *out = d[head];
    return SPARSA_OK;
  }
  double sum = 0;
  for (int32_t h = 0; h < mask->blocks.num_heads; h++) sum += d[h];
  *out = sum / mask->blocks.num_heads;
  return SPARSA_OK;
}

SPARSA_API sparsa_status sparsa_mask_export_bsr(const sparsa_mask *mask, int32_t head,
                                                int64_t *row_ptr, int32_t *col_idx,
                                                uint8_t *is_full, int64_t capacity,
                                                int64_t *num_blocks) {
  SP_CHECK_NULL(mask);
  SP_CHECK_NULL(num_blocks);
  SP_TRY(sp_check_head(__func__, mask, head, 0));
  const sp_block_list *b = NULL;
  SP_TRY(sp_mask_block_list(mask, &b));
  int64_t first, last;
  sp_head_range(b, head, &first, &last);
  int64_t n = last - first;
  *num_blocks = n;
  if ((col_idx != NULL || is_full != NULL) && capacity < n)
    return sp_fail(SPARSA_ERR_INVALID_ARGUMENT,
                   "sparsa_mask_export_bsr: capacity = %lld: head %d has %lld blocks",
                   (long long)capacity, (int)head, (long long)n);
  if (row_ptr != NULL) {
    const int64_t *src = b->row_ptr + (int64_t)head * b->num_q_blocks;
    for (int64_t r = 0; r <= b->num_q_blocks; r++) row_ptr[r] = src[r] - first;
  }
  /* Straight from the runs: one head needs no per-block view of the mask. */
  int64_t rows = (int64_t)head * b->num_q_blocks;
  sp_block_list_expand(b, b->run_ptr[rows], b->run_ptr[rows + b->num_q_blocks], col_idx, is_full);
  return SPARSA_OK;
}
