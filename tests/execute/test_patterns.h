/* Random patterns for the execute tests, each with its own token-level
 * membership rule written from the public header's definitions (and never
 * from the library's code), so the reference decides visibility
 * independently of the block machinery. */
#ifndef SPARSA_TESTS_EXECUTE_TEST_PATTERNS_H
#define SPARSA_TESTS_EXECUTE_TEST_PATTERNS_H

#include <stdint.h>
#include <stdio.h>

#include <sparsa/sparsa.h>

#include "reference/ref_membership.h"
#include "test_rng.h"

typedef enum test_pattern_kind {
  TP_DENSE,
  TP_NONE,
  TP_CAUSAL,
  TP_WINDOW,
  TP_SINK_WINDOW,
  TP_DILATED,
  TP_BLOCKS,
  TP_VERTICAL_SLASH,
  TP_POWER,
  TP_UNION,
  TP_NUM_KINDS,
  TP_REF          /* any kind, from the shared membership reference */
} test_pattern_kind;

enum { TP_MAX_LIST = 16 };

typedef struct test_pattern {
  test_pattern_kind kind;
  int64_t left, right, dilation;     /* WINDOW, DILATED */
  int64_t sink, window;              /* SINK_WINDOW */
  int64_t local;                     /* POWER */
  int32_t block_rows, block_cols;    /* BLOCKS */
  int64_t num_row_blocks, num_col_blocks;
  uint8_t *bitmap;
  int64_t columns[TP_MAX_LIST], num_columns;   /* VERTICAL_SLASH */
  int64_t offsets[TP_MAX_LIST], num_offsets;
  struct test_pattern *parts[2];     /* UNION */
  ref_pattern *ref;                  /* REF (owned) */
} test_pattern;

/* A random pattern for sequences of at most max_q_len x max_kv_len whose
 * key columns (block-sparse tiles, vertical columns) stay below
 * min_kv_len, the shortest key length it will be applied at. */
test_pattern *test_pattern_random(test_rng *rng, int64_t max_q_len, int64_t max_kv_len,
                                  int64_t min_kv_len, int allow_union);
/* Wraps a pattern of the shared reference generator (ref_pattern_random:
 * every kind, neighborhoods and intersections included), taking ownership. */
test_pattern *test_pattern_from_ref(ref_pattern *ref);
void test_pattern_free(test_pattern *p);

/* The rule, at one sequence's lengths and alignment. */
int test_pattern_visible(const test_pattern *p, int64_t q_len, int64_t kv_len, int top_left,
                         int64_t i, int64_t j);

/* The library's pattern for it (caller destroys). */
sparsa_status test_pattern_build(const test_pattern *p, sparsa_pattern **out);

void test_pattern_print(const test_pattern *p, FILE *f);

#endif
