/* Candidate enumeration: for one query block, the key blocks that may hold
 * visible pairs, as sorted runs ("spans") tagged with what is already known
 * about every block of the run. Mask building classifies only the CHECK
 * runs block by block, so its cost follows the number of listed blocks,
 * never the number of tiles. */
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
  int32_t cls;    /* sp_span_class */
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
} sp_tiling;

sp_tiling sp_tiling_make(const sp_geom *g, int64_t block_q, int64_t block_kv);

/* Appends the spans of query block qb: sorted, disjoint, inside
 * [0, num_kv_blocks); every block with a visible pair is covered. */
sparsa_status sp_pattern_spans(const sparsa_pattern *p, const sp_tiling *t, int64_t qb,
                               sp_spans *out);

void sp_spans_free(sp_spans *s);

#endif
