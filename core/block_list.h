/* Block lists: for each head and query block (a row), the key blocks to
 * compute and whether each is full or partial. The representation every
 * engine reads.
 *
 * A row is stored as runs of consecutive key blocks of one class, so that a
 * dense or causal head costs O(rows) to build and to hold, not O(blocks).
 * The per-block form (CSR: row_ptr, col, full), which device uploads want,
 * is a view materialized from the runs on first request (block_csr.c);
 * everything else (the CPU engine, counts, exports) reads the runs. */
#ifndef SPARSA_CORE_BLOCK_LIST_H
#define SPARSA_CORE_BLOCK_LIST_H

#include <stdatomic.h>

#include "pattern.h"

/* Key blocks [begin, end) of one row, all full (every pair of every block
 * visible) or all partial. Eight bytes, the class packed beside the end
 * (key block indices stay below 2^27), so that a block-sparse head, whose
 * runs are mostly one block long, costs little more than its per-block
 * list; read it through the functions below. Runs of a row ascend and do
 * not overlap; neighbours of one class need not be joined. */
typedef struct sp_block_run {
  int32_t begin;
  uint32_t end_full; /* end << 1 | full */
} sp_block_run;

static inline sp_block_run sp_block_run_make(int64_t begin, int64_t end, int full) {
  sp_block_run r = {(int32_t)begin, (uint32_t)end << 1 | (uint32_t)(full != 0)};
  return r;
}
static inline int64_t sp_block_run_end(sp_block_run r) { return (int64_t)(r.end_full >> 1); }
static inline int sp_block_run_full(sp_block_run r) { return (int)(r.end_full & 1u); }

/* The per-block view: entries row_ptr[r] .. row_ptr[r + 1] of col and full
 * are the key blocks of row r, ascending. Read-only (every reader of the
 * list shares it); not const so that engines' list types can borrow it. */
typedef struct sp_block_csr {
  int64_t *row_ptr;
  int32_t *col;
  uint8_t *full; /* 1 full, 0 partial */
} sp_block_csr;

typedef struct sp_block_entries sp_block_entries; /* block_csr.c */

typedef struct sp_block_list {
  int32_t num_heads;
  int32_t block_q;
  int32_t block_kv;
  int64_t num_q_blocks;
  int64_t num_kv_blocks;
  int64_t *run_ptr;   /* num_heads * num_q_blocks + 1; row (h, qb) = h * num_q_blocks + qb */
  sp_block_run *runs; /* runs of row r: runs[run_ptr[r] .. run_ptr[r + 1]), ascending */
  int64_t *row_ptr;   /* blocks before each row: row r has row_ptr[r + 1] - row_ptr[r] */
  int64_t num_full;
  int64_t num_partial;
  _Atomic(sp_block_entries *) entries; /* col/full of the CSR view, on first request */
} sp_block_list;

/* Classify every tile of every head; no element-level work. */
sparsa_status sp_block_list_build(const sparsa_pattern *const *patterns, int32_t num_heads,
                                  const sp_geom *g, int32_t block_q, int32_t block_kv,
                                  sp_block_list *out);
/* The same list, each row derived from its own candidate spans: no row is
 * copied or moved from an earlier one and no head from another. Slower;
 * the reference the builder's shortcuts are tested against. */
sparsa_status sp_block_list_build_direct(const sparsa_pattern *const *patterns,
                                         int32_t num_heads, const sp_geom *g, int32_t block_q,
                                         int32_t block_kv, sp_block_list *out);
void sp_block_list_free(sp_block_list *list);

/* The per-block view of list, built by the first caller (any thread; the
 * list is otherwise read-only) and kept until the list is freed. Fails
 * only with SPARSA_ERR_OUT_OF_MEMORY, leaving the list as it was. */
sparsa_status sp_block_list_csr(const sp_block_list *list, sp_block_csr *out);

/* Writes the blocks of the runs [first_run, last_run) one by one: their
 * columns into col and classes (1 full) into full, either of which may be
 * NULL. */
void sp_block_list_expand(const sp_block_list *list, int64_t first_run, int64_t last_run,
                          int32_t *col, uint8_t *full);

/* The key blocks of one row in order, run by run:
 *   for (sp_block_cursor c = sp_block_cursor_at(list, row); c.block >= 0;
 *        sp_block_cursor_next(&c))  ... c.block, c.full ... */
typedef struct sp_block_cursor {
  const sp_block_run *run, *end; /* the current run; one past the row's last */
  int64_t block;                 /* the current key block, -1 past the end */
  int full;
} sp_block_cursor;

static inline sp_block_cursor sp_block_cursor_at(const sp_block_list *list, int64_t row) {
  sp_block_cursor c;
  c.run = list->runs + list->run_ptr[row];
  c.end = list->runs + list->run_ptr[row + 1];
  c.block = c.run < c.end ? c.run->begin : -1;
  c.full = c.run < c.end ? sp_block_run_full(*c.run) : 0;
  return c;
}

/* The block after the current one, or -1. */
static inline int64_t sp_block_cursor_peek(const sp_block_cursor *c) {
  if (c->block + 1 < sp_block_run_end(*c->run)) return c->block + 1;
  return c->run + 1 < c->end ? c->run[1].begin : -1;
}

static inline void sp_block_cursor_next(sp_block_cursor *c) {
  if (++c->block < sp_block_run_end(*c->run)) return;
  if (++c->run < c->end) {
    c->block = c->run->begin;
    c->full = sp_block_run_full(*c->run);
  } else {
    c->block = -1;
  }
}

#endif
