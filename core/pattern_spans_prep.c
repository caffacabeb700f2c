/* Per-build precomputation of candidate spans (see sp_span_prep in
 * pattern_spans.h): listed columns grouped by key block, offsets grouped
 * into bands and clusters. Costs the length of the lists once per mask
 * build instead of once per query block. */
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "pattern_internal.h"
#include "pattern_spans.h"

static void sp_prep_release(sp_span_prep *p) {
  for (int32_t k = 0; k < p->num_parts; k++) sp_prep_release(&p->parts[k]);
  sp_free(p->parts);
  sp_free(p->part_order);
  sp_free(p->block);
  sp_free(p->first_col);
  sp_free(p->cls);
  sp_free(p->run_start);
  sp_free(p->run_end);
  sp_free(p->run_span);
  sp_free(p->rows_in);
  sp_free(p->runs_ending_by);
  sp_free(p->seg_lo);
  sp_free(p->seg_hi);
  sp_free(p->seg_band);
  sp_vslash_rows_free(p->vslash_rows);
}

void sp_span_prep_free(sp_span_prep *prep) {
  if (prep == NULL) return;
  sp_prep_release(prep);
  sp_free(prep);
}

static sparsa_status sp_prep_oom(const char *what) {
  return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask building: allocating %s", what);
}

/* Groups the listed columns below kv_len by key block. A block whose every
 * column is listed gets full_cls, the others PARTIAL. */
static sparsa_status sp_prep_columns(sp_span_prep *p, const sp_index_set *cols,
                                     const sp_tiling *t, int full_cls) {
  int64_t n = sp_index_lower(cols, t->g.kv_len);
  size_t cap = (size_t)(n > 0 ? n : 1);
  p->block = sp_malloc(cap * sizeof(int64_t));
  p->first_col = sp_malloc(cap * sizeof(int64_t));
  p->cls = sp_malloc(cap * sizeof(int32_t));
  p->run_start = sp_malloc(cap * sizeof(int64_t));
  p->run_end = sp_malloc(cap * sizeof(int64_t));
  p->run_span = sp_malloc(cap * sizeof(sp_span));
  if (!p->block || !p->first_col || !p->cls || !p->run_start || !p->run_end || !p->run_span)
    return sp_prep_oom("the column blocks");
  int64_t nb = 0;
  for (int64_t k = 0; k < n;) {
    int64_t b = cols->v[k] >> t->kv_shift; /* block_kv is a power of two */
    int64_t end = sp_min64((b + 1) * t->block_kv, t->g.kv_len), count = 0;
    p->first_col[nb] = cols->v[k];
    while (k < n && cols->v[k] < end) count++, k++;
    p->block[nb] = b;
    p->cls[nb] = count == end - b * t->block_kv ? full_cls : SP_SPAN_PARTIAL;
    nb++;
  }
  p->num_blocks = nb;
  int64_t nr = 0;
  for (int64_t i = 0; i < nb;) {
    int64_t j = i + 1;
    while (j < nb && p->block[j] == p->block[j - 1] + 1 && p->cls[j] == p->cls[i]) j++;
    p->run_start[nr] = i;
    p->run_end[nr] = j;
    p->run_span[nr] = (sp_span){p->block[i], p->block[j - 1] + 1, p->cls[i]};
    nr++;
    i = j;
  }
  p->num_runs = nr;
  return SPARSA_OK;
}

/* Offsets into bands (runs of consecutive offsets long enough that a block
 * may see only listed distances: a block of full height sees at least
 * block_q + narrowest - 1 of them) and clusters (offsets at most block_q
 * apart, whose diagonals leave no key gap in a query block of full height). */
static sparsa_status sp_prep_offsets(sp_span_prep *p, const sp_index_set *o, const sp_tiling *t) {
  size_t cap = (size_t)(o->n > 0 ? o->n : 1);
  p->seg_lo = sp_malloc(cap * sizeof(int64_t));
  p->seg_hi = sp_malloc(cap * sizeof(int64_t));
  p->seg_band = sp_malloc(cap);
  if (!p->seg_lo || !p->seg_hi || !p->seg_band) return sp_prep_oom("the diagonal segments");
  int64_t narrowest = sp_min64(t->block_kv, t->g.kv_len - (t->num_kv_blocks - 1) * t->block_kv);
  int64_t band_min = t->block_q + narrowest - 1, ns = 0;
  int open = 0;
  for (int64_t i = 0; i < o->n;) {
    int64_t j = i;
    while (j + 1 < o->n && o->v[j + 1] == o->v[j] + 1) j++;
    if (j - i + 1 >= band_min) {
      open = 0;
      p->seg_lo[ns] = o->v[i];
      p->seg_hi[ns] = o->v[j];
      p->seg_band[ns++] = 1;
    } else {
      for (int64_t k = i; k <= j; k++) {
        if (open && o->v[k] - p->seg_hi[ns - 1] <= t->block_q) {
          p->seg_hi[ns - 1] = o->v[k];
          continue;
        }
        p->seg_lo[ns] = p->seg_hi[ns] = o->v[k];
        p->seg_band[ns++] = 0;
        open = 1;
      }
    }
    i = j + 1;
  }
  p->num_segments = ns;
  return SPARSA_OK;
}

/* Global tokens per query block (its rows' aligned positions) and, per key
 * block, the column runs that end by it: the two lookups a query block
 * makes, one walk each per build. */
static sparsa_status sp_prep_global(sp_span_prep *p, const sp_index_set *tokens,
                                    const sp_tiling *t) {
  p->rows_in = sp_malloc(sp_mul_size((size_t)t->num_q_blocks + 1, sizeof(int64_t)));
  p->runs_ending_by = sp_malloc(sp_mul_size((size_t)t->num_kv_blocks + 1, sizeof(int64_t)));
  if (p->rows_in == NULL || p->runs_ending_by == NULL) return sp_prep_oom("the global lookups");
  int64_t k = 0;
  for (int64_t qb = 0; qb < t->num_q_blocks; qb++) {
    int64_t P0 = qb * t->block_q + t->g.off;
    int64_t P1 = sp_min64(qb * t->block_q + t->block_q, t->g.q_len) - 1 + t->g.off;
    while (k < tokens->n && tokens->v[k] < P0) k++;
    int64_t e = k;
    while (e < tokens->n && tokens->v[e] <= P1) e++;
    p->rows_in[qb] = e - k;
  }
  int64_t r = 0;
  for (int64_t b = 0; b <= t->num_kv_blocks; b++) {
    while (r < p->num_runs && p->run_span[r].b1 <= b) r++;
    p->runs_ending_by[b] = r;
  }
  return SPARSA_OK;
}

/* Parts whose spans cost O(1) per query block whatever the lengths. */
static int sp_bounded_part(const sparsa_pattern *p) {
  switch (p->kind) {
    case SPARSA_PATTERN_DENSE:
    case SPARSA_PATTERN_NONE:
    case SPARSA_PATTERN_CAUSAL:
    case SPARSA_PATTERN_WINDOW:
    case SPARSA_PATTERN_DILATED:
    case SPARSA_PATTERN_SINK_WINDOW: return 1;
    default: return 0;
  }
}

static sparsa_status sp_prep_fill(sp_span_prep *prep, const sparsa_pattern *p, const sp_tiling *t) {
  prep->global_part = -1;
  switch (p->kind) {
    case SPARSA_PATTERN_GLOBAL:
      SP_TRY(sp_prep_columns(prep, &p->set_a, t, SP_SPAN_FULL));
      return sp_prep_global(prep, &p->set_a, t);
    case SPARSA_PATTERN_VERTICAL_SLASH:
      if (!t->direct) {
        SP_TRY(sp_vslash_rows_create(p, t, &prep->vslash_rows));
        /* Rows the bitmaps do not give merge, from what follows. */
        if (prep->vslash_rows != NULL && sp_vslash_rows_cover_all(t)) return SPARSA_OK;
      }
      SP_TRY(sp_prep_columns(prep, &p->set_a, t, SP_SPAN_CHECK));
      return sp_prep_offsets(prep, &p->set_b, t);
    case SPARSA_PATTERN_UNION:
    case SPARSA_PATTERN_INTERSECTION:
      prep->parts = sp_calloc((size_t)p->num_parts, sizeof *prep->parts);
      if (prep->parts == NULL) return sp_prep_oom("the parts");
      prep->num_parts = p->num_parts;
      for (int32_t k = 0; k < p->num_parts; k++) SP_TRY(sp_prep_fill(&prep->parts[k], p->parts[k], t));
      /* Only global columns are cut to what the bounded parts leave; a
       * few runs cost less than taking the parts out of order. */
      int reorder = 0;
      for (int32_t k = 0; k < p->num_parts; k++)
        reorder |= p->parts[k]->kind == SPARSA_PATTERN_GLOBAL && prep->parts[k].num_runs > 8;
      if (p->kind == SPARSA_PATTERN_UNION && p->num_parts == 2 && !t->direct)
        for (int32_t k = 1; k >= 0; k--)
          if (p->parts[k]->kind == SPARSA_PATTERN_GLOBAL) prep->global_part = k;
      if (p->kind == SPARSA_PATTERN_INTERSECTION && reorder) {
        prep->part_order = sp_malloc(sp_mul_size((size_t)p->num_parts, sizeof(int32_t)));
        if (prep->part_order == NULL) return sp_prep_oom("the order of the parts");
        int32_t n = 0;
        for (int pass = 0; pass < 2; pass++)
          for (int32_t k = 0; k < p->num_parts; k++)
            if (sp_bounded_part(p->parts[k]) == (pass == 0)) prep->part_order[n++] = k;
      }
      return SPARSA_OK;
    default: return SPARSA_OK;
  }
}

sparsa_status sp_span_prep_create(const sparsa_pattern *p, const sp_tiling *t,
                                  sp_span_prep **out) {
  *out = NULL;
  sp_span_prep *prep = sp_calloc(1, sizeof *prep);
  if (prep == NULL) return sp_prep_oom("the candidate preparation");
  sparsa_status st = sp_prep_fill(prep, p, t);
  if (st != SPARSA_OK) {
    sp_span_prep_free(prep);
    return st;
  }
  *out = prep;
  return SPARSA_OK;
}
