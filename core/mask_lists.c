/* Masks made from an engine's block lists (an estimate on the device):
 * the mask holds the per-block lists the engine handed over, and builds
 * its host block lists from them (one pass over the blocks, their classes
 * from the causal rule) only when something on the host asks: a query, a
 * plan. The patterns, which fewer consumers read (plans, exact token
 * densities), are derived from the block lists on first request (a
 * vertical-slash estimate's from its specs, which its engine may keep
 * until then). The
 * estimate itself does no host work per block: an engine that keeps the
 * mask's lists on its device is done once they are there. */
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "mask.h"
#include "pattern_file.h"
#include "pattern_internal.h"

/* The class of key block c of a row whose first query is at aligned
 * position first_query: full unless the causal rule hides one of its
 * pairs, which the row's first query decides. */
static inline uint32_t sp_listed_full(const sparsa_mask *m, int64_t c, int64_t first_query) {
  if (!m->lists_causal) return 1;
  int64_t last_key = (c + 1) * m->blocks.block_kv - 1;
  if (last_key > m->geom.kv_len - 1) last_key = m->geom.kv_len - 1;
  return last_key <= first_query;
}

/* Runs of one class of consecutive blocks, from the held lists, in one
 * pass (room for a run per block: estimated rows are mostly runs of one
 * block); checks what the engine handed over (ascending key blocks in
 * range). On failure the held lists stay as they were. */
static sparsa_status sp_runs_from_lists(sparsa_mask *m) {
  sp_block_list *b = &m->blocks;
  const sp_block_csr *lists = &m->held;
  const int64_t rows = (int64_t)b->num_heads * b->num_q_blocks;
  const int64_t *rp = lists->row_ptr;
  const int64_t nnz = rp[rows];
  if (rp[0] != 0 || nnz < 0)
    return sp_fail(SPARSA_ERR_INTERNAL, "mask from lists: the lists start at %lld and end at %lld",
                   (long long)rp[0], (long long)nnz);
  b->run_ptr = sp_malloc(sp_mul_size((size_t)rows + 1, sizeof *b->run_ptr));
  b->runs = sp_malloc(sp_mul_size((size_t)(nnz ? nnz : 1), sizeof *b->runs));
  if (b->run_ptr == NULL || b->runs == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask from lists: allocating %lld runs",
                   (long long)nnz);
  const int32_t *col = lists->col;
  const uint8_t *cls = lists->full; /* NULL: from the causal rule */
  const int64_t off = m->geom.kv_len - m->geom.q_len;
  sp_block_run *runs = b->runs;
  int64_t n = 0, full = 0;
  b->run_ptr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t first = rp[r], last = rp[r + 1];
    if (last < first || last > nnz)
      return sp_fail(SPARSA_ERR_INTERNAL, "mask from lists: row %lld spans %lld to %lld",
                     (long long)r, (long long)first, (long long)last);
    const int64_t first_query = (r % b->num_q_blocks) * b->block_q + off;
    int64_t prev = -1;
    uint32_t prev_full = 2; /* no run of this row yet */
    for (int64_t e = first; e < last; e++) {
      const int64_t c = col[e];
      if (c <= prev || c >= b->num_kv_blocks)
        return sp_fail(SPARSA_ERR_INTERNAL,
                       "mask from lists: row %lld lists key block %lld out of order or range",
                       (long long)r, (long long)c);
      const uint32_t f = cls != NULL ? cls[e] != 0 : sp_listed_full(m, c, first_query);
      full += f;
      if (c == prev + 1 && f == prev_full)
        runs[n - 1].end_full += 2; /* one block longer */
      else
        runs[n++] = sp_block_run_make(c, c + 1, (int)f);
      prev = c;
      prev_full = f;
    }
    b->run_ptr[r + 1] = n;
  }
  b->num_full = full;
  b->num_partial = nnz - full;
  b->row_ptr = lists->row_ptr;
  return SPARSA_OK;
}

static void sp_held_free(sparsa_mask *m) {
  sp_free(m->held.row_ptr);
  sp_free(m->held.col);
  sp_free(m->held.full);
  memset(&m->held, 0, sizeof m->held);
}

/* The lists the engine kept on its side of the mask, fetched. */
static sparsa_status sp_fetch_held(sparsa_mask *m) {
  const sp_engine_ops *ops = m->ctx->ops;
  if (ops->struct_size < offsetof(sp_engine_ops, mask_read_lists) + sizeof ops->mask_read_lists ||
      ops->mask_read_lists == NULL)
    return sp_fail(SPARSA_ERR_INTERNAL, "mask from lists: the %s engine kept lists it cannot read",
                   ops->name);
  sp_block_csr got = {NULL, NULL, NULL};
  sparsa_status st = ops->mask_read_lists(m, &got);
  if (st != SPARSA_OK) {
    sp_free(got.row_ptr);
    sp_free(got.col);
    sp_free(got.full);
    return st;
  }
  m->held = got;
  return SPARSA_OK;
}

/* Reads the held lists into the block lists, or leaves both as they were. */
static sparsa_status sp_read_held(sparsa_mask *m) {
  if (m->held.row_ptr == NULL) SP_TRY(sp_fetch_held(m));
  sparsa_status st = sp_runs_from_lists(m);
  if (st != SPARSA_OK) {
    sp_free(m->blocks.run_ptr);
    sp_free(m->blocks.runs);
    m->blocks.run_ptr = NULL;
    m->blocks.runs = NULL;
    m->blocks.row_ptr = NULL;
    return st;
  }
  m->held.row_ptr = NULL; /* the block lists' now */
  sp_held_free(m);
  return SPARSA_OK;
}

sparsa_status sp_mask_block_list(const sparsa_mask *mask, const sp_block_list **out) {
  sparsa_mask *m = (sparsa_mask *)mask;
  *out = &m->blocks;
  for (;;) {
    int state = atomic_load_explicit(&m->lists_state, memory_order_acquire);
    if (state == SP_LISTS_READY) return SPARSA_OK;
    if (state == SP_LISTS_HELD &&
        atomic_compare_exchange_strong_explicit(&m->lists_state, &state, SP_LISTS_READING,
                                                memory_order_acq_rel, memory_order_acquire))
      break;
    sched_yield(); /* another thread reads them: a pass over the blocks */
  }
  sparsa_status st = sp_read_held(m);
  atomic_store_explicit(&m->lists_state, st == SPARSA_OK ? SP_LISTS_READY : SP_LISTS_HELD,
                        memory_order_release);
  return st;
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
  atomic_init(&m->lists_state, SP_LISTS_READY); /* empty until lists are held */
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

void sp_mask_lists_hold(sparsa_mask *m, sp_block_csr *lists) {
  m->held = *lists;
  memset(lists, 0, sizeof *lists);
  atomic_store_explicit(&m->lists_state, SP_LISTS_HELD, memory_order_release);
}

void sp_mask_held_free(sparsa_mask *m) { sp_held_free(m); }

void sp_mask_specs_hold(sparsa_mask *m, sp_head_spec *specs) { m->specs = specs; }

void sp_mask_patterns_hold(sparsa_mask *m, const sparsa_pattern **patterns) {
  atomic_store_explicit(&m->derived_patterns, patterns, memory_order_release);
}

int sp_mask_has_patterns(const sparsa_mask *m) {
  return m->patterns != NULL || m->specs != NULL || m->specs_on_engine ||
         atomic_load_explicit(&((sparsa_mask *)m)->derived_patterns, memory_order_acquire) != NULL;
}

void sp_mask_specs_free(sparsa_mask *m) {
  if (m->specs == NULL) return;
  for (int32_t h = 0; h < m->blocks.num_heads; h++) sp_head_spec_free(&m->specs[h]);
  sp_free(m->specs);
  m->specs = NULL;
}

int sp_mask_patterns_on_engine(const sparsa_mask *m) {
  return m->specs_on_engine && m->patterns == NULL &&
         atomic_load_explicit(&((sparsa_mask *)m)->derived_patterns, memory_order_acquire) == NULL;
}

static void sp_patterns_free(const sparsa_pattern **p, int32_t n) {
  if (p == NULL) return;
  for (int32_t h = 0; h < n; h++) sparsa_pattern_destroy((sparsa_pattern *)p[h]);
  sp_free((void *)p);
}

sparsa_status sp_vslash_patterns_take(sp_head_spec *specs, int32_t heads,
                                      const sparsa_pattern ***out) {
  *out = NULL;
  const sparsa_pattern **patterns = sp_calloc((size_t)heads, sizeof *patterns);
  if (patterns == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask: allocating %d head patterns", (int)heads);
  sparsa_status st = SPARSA_OK;
  for (int32_t h = 0; h < heads && st == SPARSA_OK; h++)
    st = sp_pattern_vertical_slash_empty((sparsa_pattern **)&patterns[h]);
  if (st != SPARSA_OK) {
    sp_patterns_free(patterns, heads);
    return st;
  }
  for (int32_t h = 0; h < heads; h++) {
    sp_pattern_vertical_slash_take((sparsa_pattern *)patterns[h], specs[h].columns,
                                   specs[h].num_columns, specs[h].offsets, specs[h].num_offsets);
    specs[h].columns = specs[h].offsets = NULL;
    specs[h].num_columns = specs[h].num_offsets = 0;
  }
  *out = patterns;
  return SPARSA_OK;
}

/* The patterns of a vertical-slash estimate's mask whose specs the engine
 * kept: the specs read from it, their arrays taken into the patterns. */
static sparsa_status sp_patterns_of_engine_specs(sparsa_mask *m, const sparsa_pattern ***out) {
  *out = NULL;
  const sp_engine_ops *ops = m->ctx->ops;
  const int32_t nh = m->blocks.num_heads;
  if (ops->struct_size < offsetof(sp_engine_ops, mask_read_specs) + sizeof ops->mask_read_specs ||
      ops->mask_read_specs == NULL)
    return sp_fail(SPARSA_ERR_INTERNAL, "mask: the %s engine kept specs it cannot read", ops->name);
  sp_head_spec *specs = sp_calloc((size_t)nh, sizeof *specs);
  if (specs == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask: allocating %d head specs", (int)nh);
  sparsa_status st = ops->mask_read_specs(m, specs);
  if (st == SPARSA_OK) st = sp_vslash_patterns_take(specs, nh, out);
  for (int32_t h = 0; h < nh; h++) sp_head_spec_free(&specs[h]);
  sp_free(specs);
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

/* Publishes derived patterns p: concurrent first callers may derive
 * twice; all read one set. */
static sparsa_status sp_mask_patterns_publish(sparsa_mask *m, const sparsa_pattern **p,
                                              const sparsa_pattern *const **out) {
  const sparsa_pattern **expected = NULL;
  if (!atomic_compare_exchange_strong_explicit(&m->derived_patterns, &expected, p,
                                               memory_order_acq_rel, memory_order_acquire)) {
    sp_patterns_free(p, m->blocks.num_heads);
    p = expected;
  }
  *out = p;
  return SPARSA_OK;
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
  if (m->specs == NULL && m->specs_on_engine) {
    SP_TRY(sp_patterns_of_engine_specs(m, &p));
    return sp_mask_patterns_publish(m, p, out);
  }
  if (m->specs == NULL) { /* the patterns come from the lists */
    const sp_block_list *blocks = NULL;
    SP_TRY(sp_mask_block_list(m, &blocks));
  }
  p = sp_calloc((size_t)nh, sizeof *p);
  if (p == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask: allocating %d head patterns", (int)nh);
  sparsa_status st = SPARSA_OK;
  if (m->specs != NULL) { /* the patterns the lists were classified from */
    for (int32_t h = 0; h < nh && st == SPARSA_OK; h++)
      st = sp_head_spec_to_pattern(&m->specs[h], m->geom.q_len, m->geom.kv_len,
                                   (sparsa_pattern **)&p[h]);
  } else {
    sparsa_pattern *causal = NULL;
    st = m->lists_causal ? sparsa_pattern_create_causal(&causal) : SPARSA_OK;
    for (int32_t h = 0; h < nh && st == SPARSA_OK; h++)
      st = sp_head_pattern_from_lists(m, h, causal, (sparsa_pattern **)&p[h]);
    sparsa_pattern_destroy(causal);
  }
  if (st != SPARSA_OK) {
    sp_patterns_free(p, nh);
    return st;
  }
  return sp_mask_patterns_publish(m, p, out);
}

void sp_mask_derived_patterns_free(sparsa_mask *m) {
  sp_patterns_free(atomic_load(&m->derived_patterns), m->blocks.num_heads);
  atomic_store(&m->derived_patterns, NULL);
}
