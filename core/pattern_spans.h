/* Candidate enumeration: for one query block, the key blocks that may hold
 * visible pairs, as sorted runs ("spans") tagged with what is already known
 * about every block of the run. Mask building turns spans into runs of the
 * mask (block_list.h) and classifies only the CHECK ones block by block, so
 * its cost follows the number of spans, never the number of blocks. */
#ifndef SPARSA_CORE_PATTERN_SPANS_H
#define SPARSA_CORE_PATTERN_SPANS_H

#include "pattern.h"

typedef enum sp_span_class {
  SP_SPAN_CHECK = 0,   /* unknown: classify each block (it may be empty) */
  SP_SPAN_PARTIAL = 1, /* every block holds a visible pair and is not known to be full */
  SP_SPAN_FULL = 2     /* every pair of every block is visible */
} sp_span_class;

typedef struct sp_span {
  int64_t b0, b1; /* key blocks [b0, b1) */
  int64_t cls;    /* sp_span_class */
} sp_span;

/* A growable list, used as a stack by combinations: a call appends its
 * spans after the current end and never touches what lies before. */
typedef struct sp_spans {
  sp_span *v;
  int64_t n, cap;
} sp_spans;

/* The tiling a mask is built on. */
typedef struct sp_tiling {
  sp_geom g;
  int64_t block_q, block_kv;
  int64_t num_q_blocks, num_kv_blocks;
  int kv_shift; /* log2(block_kv): block sizes are powers of two, and shifts
                   keep divisions out of the inner loops */
  int q_shift;  /* log2(block_q) */
  int direct;   /* merges piece by piece, without their shortcuts (the
                   reference the shortcuts are tested against) */
} sp_tiling;

sp_tiling sp_tiling_make(const sp_geom *g, int64_t block_q, int64_t block_kv);

/* What one mask build precomputes for one pattern tree (a node per pattern
 * node, children in parts): the kinds whose candidates come from listed
 * columns or diagonals get them grouped once, so that a query block costs
 * the runs it emits rather than the length of the lists. */
typedef struct sp_span_prep {
  /* GLOBAL, VERTICAL_SLASH: key blocks holding listed columns (ascending),
   * the first listed column of each, and the class each block gets. */
  int64_t num_blocks;
  int64_t *block, *first_col;
  int32_t *cls;
  /* Runs of consecutive blocks of one class: block indices [start, end),
   * and each run as the span it gives when no column of it is cut off. */
  int64_t num_runs;
  int64_t *run_start, *run_end;
  sp_span *run_span;
  /* GLOBAL: the global rows of each query block, and for each key block b
   * (0 .. num_kv_blocks) the number of runs ending at or before it. */
  int64_t *rows_in, *runs_ending_by;
  /* VERTICAL_SLASH: the offsets as disjoint ascending segments [lo, hi]:
   * bands (long runs of consecutive offsets, whose blocks may be full) and
   * clusters (offsets at most block_q apart, whose diagonals cover one
   * interval of keys for a query block of full height). */
  int64_t num_segments;
  int64_t *seg_lo, *seg_hi;
  uint8_t *seg_band;
  /* VERTICAL_SLASH: its rows of full height from bitmaps, where query
   * blocks span whole key blocks and the lists are long; NULL otherwise
   * (and when building directly). */
  struct sp_vslash_rows *vslash_rows;
  struct sp_span_prep *parts;
  int32_t num_parts;
  /* INTERSECTION: the order its parts are taken in, those of O(1) spans
   * per query block (causal, windows, dense) first, so that global tokens
   * need list no column past the blocks those leave; NULL: as given. */
  int32_t *part_order;
  /* UNION of two parts, one of them GLOBAL, built with the shortcuts: the
   * global part's index (its rows with no global row go straight to runs,
   * sp_union_global_row); -1 otherwise. */
  int32_t global_part;
} sp_span_prep;

sparsa_status sp_span_prep_create(const sparsa_pattern *p, const sp_tiling *t,
                                  sp_span_prep **out);
void sp_span_prep_free(sp_span_prep *prep);

/* Appends the spans of query block qb: sorted, disjoint, inside
 * [0, num_kv_blocks); every block with a visible pair is covered. prep
 * comes from sp_span_prep_create(p, t). */
sparsa_status sp_pattern_spans(const sparsa_pattern *p, const sp_span_prep *prep,
                               const sp_tiling *t, int64_t qb, sp_spans *out);

void sp_spans_free(sp_spans *s);

/* Vertical-slash rows read from per-build bitmaps (pattern_vslash.c): the
 * spans sp_pattern_spans gives, span for span, at a few word operations
 * per 64 key blocks instead of a merge of every column run and diagonal
 * segment in reach. */
typedef struct sp_vslash_rows sp_vslash_rows;
struct sp_block_run; /* block_list.h */

/* *out is NULL where the merge is as cheap or the tiling does not fit
 * (query blocks not whole key blocks). */
sparsa_status sp_vslash_rows_create(const sparsa_pattern *p, const sp_tiling *t,
                                    sp_vslash_rows **out);
/* Whether the bitmaps give every row of the tiling (whole query and key
 * blocks), so that the merge is never needed. */
int sp_vslash_rows_cover_all(const sp_tiling *t);
void sp_vslash_rows_free(sp_vslash_rows *v);
/* At most how many spans query block qb has, or -1 where the bitmaps do
 * not give its spans. */
int64_t sp_vslash_rows_bound(const sp_vslash_rows *v, const sp_tiling *t, int64_t qb);
/* Writes the spans of query block qb (a bound >= 0) to out; returns their
 * number. */
int64_t sp_vslash_rows_spans(const sp_vslash_rows *v, const sp_tiling *t, int64_t qb,
                             sp_span *out);
/* A union with global tokens (prep->global_part >= 0), pattern_union.c:
 * the other part's spans of query block qb into other, and *applies set
 * where the row's runs follow from those and the global columns alone (no
 * global row in the block, no CHECK span); then sp_union_global_runs
 * writes them to out, which has room for 2 * (other->n + the global
 * part's num_runs) + 1, the runs sp_pattern_spans's spans give, run for
 * run, with the row's block and full-block counts; returns their number. */
sparsa_status sp_union_global_row(const sparsa_pattern *p, const sp_span_prep *prep,
                                  const sp_tiling *t, int64_t qb, sp_spans *other, int *applies);
int64_t sp_union_global_runs(const sp_span_prep *prep, const sp_spans *other,
                             struct sp_block_run *out, int64_t *blocks, int64_t *full_blocks);

/* Whether no span of any row is CHECK, so that rows go to mask runs
 * directly, one run per span (see sp_vslash_rows_runs). */
int sp_vslash_rows_direct(const sp_vslash_rows *v);
/* The runs of query block qb (a bound >= 0) that its spans give, written to
 * out (struct sp_block_run, block_list.h), with its block and full-block
 * counts; returns their number. */
int64_t sp_vslash_rows_runs(const sp_vslash_rows *v, const sp_tiling *t, int64_t qb,
                            struct sp_block_run *out, int64_t *blocks, int64_t *full_blocks);

/* How query block qb's runs follow from an earlier block's: every query i
 * of qb sees exactly the keys that query i - back * block_q sees, each
 * moved right by shift * block_kv (shift >= 0), and besides those only keys
 * in blocks [0, head), which sp_pattern_head_spans gives. Keys are taken on
 * the unbounded line: moved runs that land past the key blocks are dropped,
 * and the builder derives nothing where one would straddle the end of the
 * whole key blocks (a narrower last block may classify differently). Both
 * blocks have full height. head_repeats: the keys qb sees in blocks
 * [0, head) are those the earlier block sees there, unmoved, so the head
 * is a copy of that block's runs up to there. */
typedef struct sp_translation {
  int64_t back, shift, head;
  int head_repeats;
} sp_translation;

/* Returns 0 where no such earlier block is known (pattern_shift.c). */
int sp_pattern_translation(const sparsa_pattern *p, const sp_tiling *t, int64_t qb,
                           sp_translation *out);

/* Appends the spans of query block qb that lie in key blocks [0, head),
 * for a translation's head: those sp_pattern_spans gives there, in the
 * same order and classes. */
sparsa_status sp_pattern_head_spans(const sparsa_pattern *p, const sp_tiling *t, int64_t qb,
                                    int64_t head, sp_spans *out);

#endif
