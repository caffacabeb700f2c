/* One numerical edge case: a single-sequence problem with given inputs,
 * run through mask -> plan -> execute and compared with the float64
 * reference under the accuracy rule (engine error <= 2x the straightforward
 * same-dtype computation's, plus the floor; no NaN, no infinity except the
 * lse of a row that sees no key). */
#ifndef SPARSA_TESTS_EDGE_CASE_H
#define SPARSA_TESTS_EDGE_CASE_H

#include <stddef.h>
#include <stdint.h>

#include <sparsa/sparsa.h>

#include "reference/ref_attention.h"

typedef enum edge_rule {
  EDGE_DENSE,      /* every key */
  EDGE_CAUSAL,     /* d = i + kv_len - q_len - j >= 0 */
  EDGE_LAST_KEY    /* causal and j == kv_len - 1: only rows with p >= kv_len - 1 see it */
} edge_rule;

typedef struct edge_case {
  sparsa_dtype dtype;
  int32_t q_heads, kv_heads, head_dim;
  int64_t q_len, kv_len;
  float scale;            /* 0: 1/sqrt(head_dim) */
  edge_rule rule;
  /* Canonical layout of the reference (ref_attention.h), values already
   * representable in dtype. */
  double *q, *k, *v;
} edge_case;

/* Allocates q, k, v for the case's shape (filled with 0). */
void edge_case_alloc(edge_case *c);
void edge_case_free(edge_case *c);
int64_t edge_q_index(const edge_case *c, int32_t h, int64_t i, int32_t d);
int64_t edge_kv_index(const edge_case *c, int32_t h, int64_t j, int32_t d);

/* Runs the case; on failure returns 0 with the reason in why. Also returns
 * the engine's output and lse in canonical layout if out/lse are non-NULL
 * (caller frees). */
int edge_case_run(const edge_case *c, char *why, size_t why_size, double **out, double **lse);

#endif
