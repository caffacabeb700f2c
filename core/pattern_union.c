/* Unions with global tokens, straight to runs (see sp_union_global_row in
 * pattern_spans.h). Window plus global tokens is the Longformer and
 * BigBird layout. On a query block with no global row the global part
 * sees its columns' blocks, the same for every such block: the spans
 * prepared once (sp_span_prep.run_span). The row is then the other part's
 * few spans merged with that fixed list, written as runs in one pass,
 * where the general union copies the list, merges it into new spans,
 * moves those back, and converts them to runs (on one Ice Lake core, a
 * 32-head union of sink + window with 16 global tokens at N = 32768 took
 * ~1.3 ms that way, the slowest kind of mask). */
#include "block_list.h"
#include "error.h"
#include "pattern_internal.h"
#include "pattern_spans.h"

/* The other part's spans of a union's row; *applies says whether the row
 * goes through sp_union_global_runs: no global row in the query block, and
 * no CHECK span (whose blocks are classified one by one). */
sparsa_status sp_union_global_row(const sparsa_pattern *p, const sp_span_prep *prep,
                                  const sp_tiling *t, int64_t qb, sp_spans *other, int *applies) {
  const int32_t g = prep->global_part, o = 1 - g;
  *applies = 0;
  other->n = 0;
  if (prep->parts[g].rows_in[qb] != 0) return SPARSA_OK;
  SP_TRY(sp_pattern_spans(p->parts[o], &prep->parts[o], t, qb, other));
  for (int64_t k = 0; k < other->n; k++)
    if (other->v[k].cls == SP_SPAN_CHECK) return SPARSA_OK;
  *applies = 1;
  return SPARSA_OK;
}

/* The runs being written, one per piece of the general union's spans:
 * sp_union_put joins a piece to the last run where sp_push would join the
 * spans (touching, one class), sp_union_append never does. */
typedef struct sp_union_out {
  struct sp_block_run *v;
  int64_t n, blocks, full_blocks;
} sp_union_out;

static inline void sp_union_append(sp_union_out *w, int64_t b0, int64_t b1, int64_t cls) {
  const int full = cls == SP_SPAN_FULL;
  w->blocks += b1 - b0;
  w->full_blocks += full ? b1 - b0 : 0;
  w->v[w->n++] = sp_block_run_make(b0, b1, full);
}

static inline void sp_union_put(sp_union_out *w, int64_t b0, int64_t b1, int64_t cls) {
  if (b0 >= b1) return;
  const int full = cls == SP_SPAN_FULL;
  if (w->n > 0 && sp_block_run_end(w->v[w->n - 1]) == b0 && sp_block_run_full(w->v[w->n - 1]) == full) {
    w->blocks += b1 - b0;
    w->full_blocks += full ? b1 - b0 : 0;
    w->v[w->n - 1] = sp_block_run_make(w->v[w->n - 1].begin, b1, full);
    return;
  }
  sp_union_append(w, b0, b1, cls);
}

int64_t sp_union_global_runs(const sp_span_prep *prep, const sp_spans *other,
                             struct sp_block_run *out, int64_t *blocks, int64_t *full_blocks) {
  const sp_span_prep *g = &prep->parts[prep->global_part];
  /* The parts in the union's order: the general merge's shortcuts below
   * depend on which comes first. */
  const sp_span *a = other->v, *c = g->run_span;
  int64_t na = other->n, nc = g->num_runs;
  if (prep->global_part == 0) {
    a = g->run_span, na = g->num_runs;
    c = other->v, nc = other->n;
  }
  sp_union_out w = {out, 0, 0, 0};
  int64_t i = 0, j = 0, x = 0;
  /* As the general merge (sp_merge_regions) does: a part alone, or the
   * second wholly after the first, are taken span for span, joined only
   * where they meet (a part's own spans need not be joined where they
   * touch). */
  if (nc == 0 || na == 0 || a[na - 1].b1 <= c[0].b0) {
    for (; i < na; i++) sp_union_append(&w, a[i].b0, a[i].b1, a[i].cls);
    if (j < nc) sp_union_put(&w, c[j].b0, c[j].b1, c[j].cls), j++;
    for (; j < nc; j++) sp_union_append(&w, c[j].b0, c[j].b1, c[j].cls);
    *blocks = w.blocks;
    *full_blocks = w.full_blocks;
    return w.n;
  }
  /* Otherwise every piece joins a touching one of its class. Both lists
   * ascend and are disjoint within themselves; x is where the runs
   * written so far end. Pieces in one list only keep their class; in
   * both, full if either is (the union's rule for exact parts). */
  while (i < na && j < nc) {
    const int64_t a0 = sp_max64(a[i].b0, x), c0 = sp_max64(c[j].b0, x);
    if (c[j].b1 <= a0) { /* c's span lies before a's */
      sp_union_put(&w, c0, c[j].b1, c[j].cls);
      x = c[j++].b1;
    } else if (a[i].b1 <= c0) {
      sp_union_put(&w, a0, a[i].b1, a[i].cls);
      x = a[i++].b1;
    } else if (c0 < a0) {
      sp_union_put(&w, c0, a0, c[j].cls);
      x = a0;
    } else if (a0 < c0) {
      sp_union_put(&w, a0, c0, a[i].cls);
      x = c0;
    } else {
      const int64_t e = sp_min64(a[i].b1, c[j].b1);
      const int64_t cls = a[i].cls == SP_SPAN_FULL || c[j].cls == SP_SPAN_FULL ? SP_SPAN_FULL : SP_SPAN_PARTIAL;
      sp_union_put(&w, a0, e, cls);
      x = e;
      i += a[i].b1 <= x;
      j += c[j].b1 <= x;
    }
  }
  for (; i < na; i++) sp_union_put(&w, sp_max64(a[i].b0, x), a[i].b1, a[i].cls);
  for (; j < nc; j++) sp_union_put(&w, sp_max64(c[j].b0, x), c[j].b1, c[j].cls);
  *blocks = w.blocks;
  *full_blocks = w.full_blocks;
  return w.n;
}
