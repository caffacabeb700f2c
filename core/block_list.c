/* Block lists from patterns: per head and query block, the candidate spans
 * of pattern_spans.c turned into runs. Spans already known full or partial
 * become runs directly; only CHECK spans are classified block by block, so
 * the cost follows the number of runs, never the number of blocks. Rows
 * that repeat the previous row's spans, or that an earlier row of the head
 * determines by a translation (pattern_shift.c), are copies of those; rows
 * of a union with global tokens are written from the other part's spans
 * and the global columns in one pass (pattern_union.c). */
#include <string.h>

#include "alloc.h"
#include "block_list.h"
#include "error.h"
#include "pattern_internal.h"
#include "pattern_spans.h"

typedef struct sp_run_buf {
  sp_block_run *v;
  int64_t n, cap;
} sp_run_buf;

static sparsa_status sp_runs_reserve(sp_run_buf *r, int64_t extra) {
  if (r->n + extra <= r->cap) return SPARSA_OK;
  int64_t cap = r->cap ? r->cap : 1024;
  while (cap < r->n + extra) cap *= 2;
  sp_block_run *v = sp_realloc(r->v, sp_mul_size((size_t)cap, sizeof *v));
  if (v == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask building: growing the block list to %lld runs",
                   (long long)cap);
  r->v = v;
  r->cap = cap;
  return SPARSA_OK;
}

/* The runs of the row being built, and its block counts. Spans become runs
 * as they are (neighbours of one class stay apart: joining them would cost
 * more than it saves); the blocks of a CHECK span are joined while they are
 * classified, the last run kept in registers until a block does not extend
 * it. */
typedef struct sp_row_writer {
  sp_block_run *out; /* room reserved by the caller */
  int64_t n;
  int64_t b0, b1; /* the pending run of a CHECK span, empty when b0 == b1 */
  int full;
  int64_t blocks, full_blocks;
} sp_row_writer;

static inline sp_row_writer sp_row_writer_at(const sp_run_buf *r) {
  sp_row_writer w = {r->v, r->n, 0, 0, 0, 0, 0};
  return w;
}

static inline void sp_row_put(sp_row_writer *w, int64_t b0, int64_t b1, int full) {
  w->out[w->n++] = sp_block_run_make(b0, b1, full);
  w->blocks += b1 - b0;
  w->full_blocks += full ? b1 - b0 : 0;
}

static inline void sp_row_flush(sp_row_writer *w) {
  if (w->b0 < w->b1) sp_row_put(w, w->b0, w->b1, w->full);
  w->b0 = w->b1 = 0;
}

static inline void sp_row_push(sp_row_writer *w, int64_t b0, int64_t b1, int full) {
  if (b0 == w->b1 && full == w->full && w->b0 < w->b1) {
    w->b1 = b1;
    return;
  }
  sp_row_flush(w);
  w->b0 = b0;
  w->b1 = b1;
  w->full = full;
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

/* Patterns whose rows are their listed tiles, read straight from the tile
 * list: such block-sparse tiles alone, or intersected with causal (what
 * the estimators and the block heads of pattern configs make). A causal
 * row keeps the blocks up to its last query's frontier, full up to its
 * first query's. The per-element rule decides nothing here, so the row
 * costs its listed tiles, not the spans machinery's merge. Not taken when
 * building the reference list (t->direct) for the causal case, which the
 * tests compare with it. */
typedef struct sp_tile_rows {
  const sp_bsr *bsr;
  int causal;
  int64_t rows_per_tile; /* query blocks a tile row covers */
  int64_t m;             /* key blocks a tile covers */
} sp_tile_rows;

/* Decided once per head: the per-row work of a block-sparse head is a few
 * instructions a tile, and a per-row test with its two divisions was ~10%
 * of such a mask's build. */
static int sp_tile_rows_of(const sparsa_pattern *p, const sp_tiling *t, sp_tile_rows *out) {
  const sparsa_pattern *tiles = NULL;
  memset(out, 0, sizeof *out);
  if (sp_tiles_cover_blocks(p, t)) {
    tiles = p;
  } else if (!t->direct && p->kind == SPARSA_PATTERN_INTERSECTION && p->num_parts == 2) {
    for (int i = 0; i < 2 && tiles == NULL; i++)
      if (p->parts[1 - i]->kind == SPARSA_PATTERN_CAUSAL && sp_tiles_cover_blocks(p->parts[i], t)) {
        tiles = p->parts[i];
        out->causal = 1;
      }
  }
  if (tiles == NULL) return 0;
  out->bsr = &tiles->bsr;
  out->rows_per_tile = tiles->bsr.block_rows >> t->q_shift;
  out->m = tiles->bsr.block_cols >> t->kv_shift;
  return 1;
}

static sparsa_status sp_copy_tile_row(const sp_tile_rows *tr, const sp_tiling *t, int64_t qb,
                                      sp_run_buf *r, int64_t *blocks, int64_t *full_blocks) {
  const sp_bsr *b = tr->bsr;
  *blocks = *full_blocks = 0;
  int64_t tile_row = tr->rows_per_tile == 1 ? qb : qb / tr->rows_per_tile;
  if (tile_row >= b->num_row_blocks) return SPARSA_OK;
  const int32_t *col = b->col + b->row_ptr[tile_row];
  int64_t n = b->row_ptr[tile_row + 1] - b->row_ptr[tile_row], m = tr->m;
  /* One run per tile and class, adjacent or not: joining neighbours would
   * chain every tile to the one before, and cost a block-sparse mask
   * several times its copy. Only the last listed tile can be cut by the
   * end of the keys. */
  if (!tr->causal) {
    SP_TRY(sp_runs_reserve(r, n));
    sp_block_run *out = r->v + r->n;
    for (int64_t k = 0; k < n; k++) {
      int64_t b0 = (int64_t)col[k] * m;
      out[k] = sp_block_run_make(b0, b0 + m, 1);
    }
    int64_t cut = n > 0 ? (int64_t)col[n - 1] * m + m - t->num_kv_blocks : 0;
    if (cut > 0) out[n - 1] = sp_block_run_make(out[n - 1].begin, t->num_kv_blocks, 1);
    r->n += n;
    *blocks = *full_blocks = n * m - (cut > 0 ? cut : 0);
    return SPARSA_OK;
  }
  /* Causal: keys up to `all` are visible to every query of the row, keys
   * up to `any` to its last one; blocks [0, whole) end by `all` (the last
   * key block ends at kv_len) and blocks [0, seen) start by `any`. A tile
   * splits into a full and a partial run at most. */
  int64_t q0 = qb * t->block_q, q1 = sp_min64(q0 + t->block_q, t->g.q_len);
  int64_t all = q0 + t->g.off, any = q1 - 1 + t->g.off;
  if (any < 0) return SPARSA_OK;
  int64_t whole = all >= t->g.kv_len - 1 ? t->num_kv_blocks : all < 0 ? 0 : (all + 1) / t->block_kv;
  int64_t seen = any / t->block_kv + 1;
  SP_TRY(sp_runs_reserve(r, 2 * n));
  sp_block_run *out = r->v + r->n;
  int64_t runs = 0;
  for (int64_t k = 0; k < n; k++) {
    int64_t b0 = (int64_t)col[k] * m;
    if (b0 >= seen) break;
    int64_t b1 = sp_min64(sp_min64(b0 + m, t->num_kv_blocks), seen);
    int64_t full_end = sp_max64(b0, sp_min64(b1, whole));
    if (full_end > b0) out[runs++] = sp_block_run_make(b0, full_end, 1);
    if (b1 > full_end) out[runs++] = sp_block_run_make(full_end, b1, 0);
    *blocks += b1 - b0;
    *full_blocks += full_end - b0;
  }
  r->n += runs;
  return SPARSA_OK;
}

/* The spans of the current and the previous query block of a head: a row
 * whose spans repeat the previous row's, none of them CHECK (whose blocks
 * are classified at the row's own queries), repeats its runs, which then
 * cost a copy instead of a conversion (global tokens: every query block
 * without a global row has the same runs). */
typedef struct sp_row_memo {
  sp_spans spans[2];
  sp_spans head;    /* a translated row's head (sp_translate_row), or the
                       other part of a union with global tokens */
  int64_t *full_of_row; /* full blocks of each row of the head being built */
  int cur;          /* spans[cur] is this row's */
  int repeatable;   /* the previous row's runs follow from its spans alone */
  int64_t blocks, full_blocks; /* the previous row's counts */
} sp_row_memo;

static void sp_row_memo_free(sp_row_memo *m) {
  sp_spans_free(&m->spans[0]);
  sp_spans_free(&m->spans[1]);
  sp_spans_free(&m->head);
  sp_free(m->full_of_row);
}

/* From the last span back: where rows differ (a band moving along the
 * keys) the last spans do, so most comparisons end at once, inline, where
 * a memcmp call from the first span was 8% of a union's build. */
static int sp_spans_equal(const sp_spans *a, const sp_spans *b) {
  if (a->n != b->n) return 0;
  for (int64_t k = a->n - 1; k >= 0; k--)
    if (a->v[k].b0 != b->v[k].b0 || a->v[k].b1 != b->v[k].b1 || a->v[k].cls != b->v[k].cls)
      return 0;
  return 1;
}

/* Appends the runs of query block qb (those of the previous one start at
 * prev_first); counts its blocks and full blocks. */
static sparsa_status sp_build_row(const sparsa_pattern *p, const sp_span_prep *prep,
                                  const sp_tiling *t, int64_t qb, int64_t prev_first,
                                  sp_row_memo *memo, sp_run_buf *r, int64_t *blocks,
                                  int64_t *full_blocks) {
  int64_t bound;
  if (prep->vslash_rows != NULL && sp_vslash_rows_direct(prep->vslash_rows) &&
      (bound = sp_vslash_rows_bound(prep->vslash_rows, t, qb)) >= 0) {
    /* Vertical-slash rows from its bitmaps: runs as their spans give them. */
    SP_TRY(sp_runs_reserve(r, bound));
    r->n += sp_vslash_rows_runs(prep->vslash_rows, t, qb, r->v + r->n, blocks, full_blocks);
    memo->repeatable = 0; /* the spans kept are not this row's */
    return SPARSA_OK;
  }
  if (prep->global_part >= 0) {
    /* A union with global tokens, on a block with no global row: the
     * runs from the other part's spans and the global columns. */
    int applies = 0;
    SP_TRY(sp_union_global_row(p, prep, t, qb, &memo->head, &applies));
    if (applies) {
      SP_TRY(sp_runs_reserve(r, 2 * (memo->head.n + prep->parts[prep->global_part].num_runs) + 1));
      r->n += sp_union_global_runs(prep, &memo->head, r->v + r->n, blocks, full_blocks);
      memo->repeatable = 0; /* the spans kept are not this row's */
      return SPARSA_OK;
    }
  }
  memo->cur ^= 1;
  sp_spans *spans = &memo->spans[memo->cur];
  spans->n = 0;
  SP_TRY(sp_pattern_spans(p, prep, t, qb, spans));
  if (qb > 0 && memo->repeatable && sp_spans_equal(spans, &memo->spans[memo->cur ^ 1])) {
    int64_t n = r->n - prev_first;
    SP_TRY(sp_runs_reserve(r, n));
    memcpy(r->v + r->n, r->v + prev_first, (size_t)n * sizeof *r->v);
    r->n += n;
    *blocks = memo->blocks;
    *full_blocks = memo->full_blocks;
    return SPARSA_OK;
  }
  memo->repeatable = 1;
  int64_t q0 = qb * t->block_q, q1 = sp_min64(q0 + t->block_q, t->g.q_len);
  /* One run per span at most, plus one per block of CHECK spans (room
   * made when one comes). */
  SP_TRY(sp_runs_reserve(r, spans->n));
  sp_row_writer w = sp_row_writer_at(r);
  for (int64_t s = 0; s < spans->n; s++) {
    const sp_span *sp = &spans->v[s];
    if (sp->cls != SP_SPAN_CHECK) {
      sp_row_put(&w, sp->b0, sp->b1, sp->cls == SP_SPAN_FULL);
      continue;
    }
    memo->repeatable = 0;
    r->n = w.n;
    SP_TRY(sp_runs_reserve(r, sp->b1 - sp->b0 + spans->n - s));
    w.out = r->v;
    for (int64_t b = sp->b0; b < sp->b1; b++) {
      int64_t k0 = b * t->block_kv, k1 = sp_min64(k0 + t->block_kv, t->g.kv_len);
      sp_block_class c = sp_pattern_classify(p, &t->g, q0, q1, k0, k1);
      if (c != SP_BLOCK_EMPTY) sp_row_push(&w, b, b + 1, c == SP_BLOCK_FULL);
    }
    sp_row_flush(&w);
  }
  r->n = w.n;
  *blocks = memo->blocks = w.blocks;
  *full_blocks = memo->full_blocks = w.full_blocks;
  return SPARSA_OK;
}

/* Head h repeats an earlier head's pattern object (a pattern shared by
 * several heads): its rows are a copy. Returns that head, or -1. */
static int32_t sp_same_pattern_before(const sparsa_pattern *const *patterns, int32_t h) {
  for (int32_t k = h - 1; k >= 0; k--)
    if (patterns[k] == patterns[h]) return k;
  return -1;
}

/* Full blocks of the runs [first, last). */
static int64_t sp_count_full(const sp_block_run *runs, int64_t first, int64_t last) {
  int64_t f = 0;
  for (int64_t k = first; k < last; k++)
    if (sp_block_run_full(runs[k])) f += sp_block_run_end(runs[k]) - runs[k].begin;
  return f;
}

static sparsa_status sp_copy_head(sp_block_list *l, int32_t from, int32_t h, sp_run_buf *r) {
  int64_t nq = l->num_q_blocks;
  const int64_t *src_runs = l->run_ptr + (int64_t)from * nq;
  const int64_t *src_rows = l->row_ptr + (int64_t)from * nq;
  int64_t *dst_runs = l->run_ptr + (int64_t)h * nq, *dst_rows = l->row_ptr + (int64_t)h * nq;
  int64_t first = src_runs[0], n = src_runs[nq] - first, shift = r->n - first;
  int64_t block_shift = dst_rows[0] - src_rows[0];
  SP_TRY(sp_runs_reserve(r, n));
  memcpy(r->v + r->n, r->v + first, (size_t)n * sizeof *r->v);
  r->n += n;
  for (int64_t q = 1; q <= nq; q++) {
    dst_runs[q] = src_runs[q] + shift;
    dst_rows[q] = src_rows[q] + block_shift;
  }
  l->num_full += sp_count_full(r->v, first, first + n);
  return SPARSA_OK;
}

_Static_assert(sizeof(sp_block_run) == sizeof(uint64_t), "a run is two 32-bit fields");

/* dst[k] = src[k] moved by step (both fields in one 64-bit add), two
 * runs an add: copied a run a cycle, the moves of translated rows were
 * about a fifth of a radial mask's build (~55 runs a row, 16k rows; 0.93
 * -> 0.79 ms for 32 heads at N = 32768 on one Zen 4 core). The ranges do
 * not overlap (dst lies past the source row). */
static void sp_runs_shift(sp_block_run *dst, const sp_block_run *src, int64_t n, uint64_t step) {
  typedef uint64_t sp_u64x2 __attribute__((vector_size(16)));
  const sp_u64x2 add = {step, step};
  int64_t k = 0;
  for (; k + 2 <= n; k += 2) {
    sp_u64x2 v;
    memcpy(&v, src + k, sizeof v);
    v += add;
    memcpy(dst + k, &v, sizeof v);
  }
  for (; k < n; k++) {
    uint64_t v;
    memcpy(&v, &src[k], sizeof v);
    v += step;
    memcpy(&dst[k], &v, sizeof v);
  }
}

/* Row `row` of query block qb from an earlier row by a translation
 * (sp_pattern_translation): the head (its spans, or the earlier row's runs
 * up to there where it repeats), then the earlier row's runs moved right,
 * those landing past the key blocks dropped; a moved run that continues
 * the head's last one of its class joins it, as it does when the row is
 * derived from its own spans. *moved says whether the row was built: not
 * where a head span is CHECK or a moved run reaches into, without
 * passing, the blocks past the whole ones. */
static sparsa_status sp_translate_row(const sparsa_pattern *p, const sp_block_list *l,
                                      const sp_tiling *t, int64_t qb, int64_t row,
                                      const sp_translation *tr, sp_row_memo *memo, sp_run_buf *r,
                                      int *moved, int64_t *blocks, int64_t *full_blocks) {
  int64_t src = row - tr->back, first = l->run_ptr[src], n = l->run_ptr[src + 1] - first;
  int64_t whole = t->g.kv_len >> t->kv_shift, shift = tr->shift;
  const int copy_head = tr->head > 0 && tr->head_repeats;
  sp_spans *head = &memo->head;
  *moved = 0;
  head->n = 0;
  if (tr->head > 0 && !copy_head) SP_TRY(sp_pattern_head_spans(p, t, qb, tr->head, head));
  SP_TRY(sp_runs_reserve(r, (copy_head ? n : head->n) + n));
  sp_block_run *out = r->v + r->n;
  const sp_block_run *in = r->v + first;
  /* Counts: the source row's, less the runs dropped, plus the head's. */
  int64_t m = 0, count = l->row_ptr[src + 1] - l->row_ptr[src];
  int64_t full = memo->full_of_row[qb - tr->back];
  for (int64_t k = 0; k < head->n; k++) {
    const sp_span *sp = &head->v[k];
    if (sp->cls == SP_SPAN_CHECK) return SPARSA_OK;
    out[m++] = sp_block_run_make(sp->b0, sp->b1, sp->cls == SP_SPAN_FULL);
    count += sp->b1 - sp->b0;
    full += sp->cls == SP_SPAN_FULL ? sp->b1 - sp->b0 : 0;
  }
  /* A repeated head: the source's runs that start before it, the last one
   * cut there (where the source joined it with its first moved run). */
  for (int64_t k = 0; copy_head && k < n && in[k].begin < tr->head; k++) {
    const int64_t end = sp_min64(sp_block_run_end(in[k]), tr->head), len = end - in[k].begin;
    out[m++] = sp_block_run_make(in[k].begin, end, sp_block_run_full(in[k]));
    count += len;
    full += sp_block_run_full(in[k]) ? len : 0;
  }
  uint32_t end_step = (uint32_t)shift << 1; /* the end sits above the class bit */
  /* Runs ascend: those that stay inside the whole key blocks come first;
   * of the others, all must land past the keys. */
  int64_t keep = n, k = 0;
  while (keep > 0 && sp_block_run_end(in[keep - 1]) + shift > whole) {
    keep--;
    int64_t len = sp_block_run_end(in[keep]) - in[keep].begin;
    count -= len;
    full -= sp_block_run_full(in[keep]) ? len : 0;
  }
  if (keep < n && in[keep].begin + shift < t->num_kv_blocks) return SPARSA_OK;
  if (keep > 0 && m > 0) {
    /* The seam: where the head's last run ends, the first moved one starts
     * at or after it, and joins it when of the same class. */
    int64_t seam = sp_block_run_end(out[m - 1]), begin = in[0].begin + shift;
    if (seam > begin) return SPARSA_OK;
    if (seam == begin && sp_block_run_full(out[m - 1]) == sp_block_run_full(in[0])) {
      out[m - 1].end_full = in[0].end_full + end_step;
      k = 1;
    }
  }
  /* Both fields move in one 64-bit add: neither carries into the other
   * (indices stay below 2^27), whatever the byte order. */
  sp_block_run step_run = {(int32_t)shift, end_step};
  uint64_t step;
  memcpy(&step, &step_run, sizeof step);
  sp_block_run *moved_out = out + m - k;
  sp_runs_shift(moved_out + k, in + k, keep - k, step);
  r->n += moved_out + keep - out;
  *moved = 1;
  *blocks = count;
  *full_blocks = full;
  return SPARSA_OK;
}

/* direct: every row from its own spans, none copied or moved from another
 * (the reference the shortcuts are tested against). */
static sparsa_status sp_build_head(const sparsa_pattern *p, const sp_tiling *t, int64_t row0,
                                   int direct, sp_block_list *l, sp_row_memo *memo,
                                   sp_run_buf *r) {
  sp_span_prep *prep = NULL;
  sp_tile_rows tiles; /* rows read from a tile list need no preparation */
  const int tile_rows = sp_tile_rows_of(p, t, &tiles);
  if (!tile_rows) SP_TRY(sp_span_prep_create(p, t, &prep));
  sparsa_status st = SPARSA_OK;
  memo->repeatable = 0;
  for (int64_t qb = 0; qb < t->num_q_blocks; qb++) {
    int64_t row = row0 + qb, blocks = 0, full_blocks = 0;
    sp_translation tr;
    int built = 0;
    if (tile_rows) {
      st = sp_copy_tile_row(&tiles, t, qb, r, &blocks, &full_blocks);
      built = 1;
    } else if (!direct && sp_pattern_translation(p, t, qb, &tr)) {
      st = sp_translate_row(p, l, t, qb, row, &tr, memo, r, &built, &blocks, &full_blocks);
      if (st != SPARSA_OK) break;
      /* The spans kept for the next row's comparison are not this row's. */
      if (built) memo->repeatable = 0;
    }
    if (!built) {
      if (direct) memo->repeatable = 0;
      st = sp_build_row(p, prep, t, qb, l->run_ptr[row > row0 ? row - 1 : row], memo, r,
                        &blocks, &full_blocks);
    }
    if (st != SPARSA_OK) break;
    l->run_ptr[row + 1] = r->n;
    l->row_ptr[row + 1] = l->row_ptr[row] + blocks;
    l->num_full += full_blocks;
    memo->full_of_row[qb] = full_blocks;
  }
  sp_span_prep_free(prep);
  return st;
}

static sparsa_status sp_block_list_make(const sparsa_pattern *const *patterns, int32_t num_heads,
                                        const sp_geom *g, int32_t block_q, int32_t block_kv,
                                        int direct, sp_block_list *out) {
  memset(out, 0, sizeof *out);
  atomic_init(&out->entries, NULL);
  sp_tiling t = sp_tiling_make(g, block_q, block_kv);
  t.direct = direct;
  int64_t rows = (int64_t)num_heads * t.num_q_blocks;
  out->num_heads = num_heads;
  out->block_q = block_q;
  out->block_kv = block_kv;
  out->num_q_blocks = t.num_q_blocks;
  out->num_kv_blocks = t.num_kv_blocks;
  out->run_ptr = sp_malloc(sp_mul_size((size_t)rows + 1, sizeof(int64_t)));
  out->row_ptr = sp_malloc(sp_mul_size((size_t)rows + 1, sizeof(int64_t)));
  sp_run_buf r = {0};
  sp_row_memo memo;
  memset(&memo, 0, sizeof memo);
  memo.full_of_row = sp_malloc(sp_mul_size((size_t)t.num_q_blocks + 1, sizeof(int64_t)));
  sparsa_status st = SPARSA_OK;
  if (out->run_ptr == NULL || out->row_ptr == NULL || memo.full_of_row == NULL)
    st = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "mask building: allocating %lld row offsets",
                 (long long)rows + 1);
  else
    st = sp_runs_reserve(&r, 2 * t.num_q_blocks);
  if (st == SPARSA_OK) out->run_ptr[0] = out->row_ptr[0] = 0;
  for (int32_t h = 0; h < num_heads && st == SPARSA_OK; h++) {
    int32_t same = h > 0 && !direct ? sp_same_pattern_before(patterns, h) : -1;
    if (same >= 0) {
      st = sp_copy_head(out, same, h, &r);
      continue;
    }
    st = sp_build_head(patterns[h], &t, (int64_t)h * t.num_q_blocks, direct, out, &memo, &r);
    /* Heads of one mask tend to have similar run counts: size the list for
     * all of them once the first is known. */
    if (st == SPARSA_OK && h == 0 && num_heads > 1)
      st = sp_runs_reserve(&r, r.n * (num_heads - 1) + r.n / 8 + 1024);
  }
  sp_row_memo_free(&memo);
  out->runs = r.v;
  if (st != SPARSA_OK) {
    sp_block_list_free(out);
    return st;
  }
  out->num_partial = out->row_ptr[rows] - out->num_full;
  return SPARSA_OK;
}

sparsa_status sp_block_list_build(const sparsa_pattern *const *patterns, int32_t num_heads,
                                  const sp_geom *g, int32_t block_q, int32_t block_kv,
                                  sp_block_list *out) {
  return sp_block_list_make(patterns, num_heads, g, block_q, block_kv, 0, out);
}

sparsa_status sp_block_list_build_direct(const sparsa_pattern *const *patterns,
                                         int32_t num_heads, const sp_geom *g, int32_t block_q,
                                         int32_t block_kv, sp_block_list *out) {
  return sp_block_list_make(patterns, num_heads, g, block_q, block_kv, 1, out);
}

void sp_block_list_free(sp_block_list *list) {
  if (list == NULL) return;
  sp_free(list->run_ptr);
  sp_free(list->runs);
  sp_free(list->row_ptr);
  sp_free(atomic_load(&list->entries));
  memset(list, 0, sizeof *list);
}
