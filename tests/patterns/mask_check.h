/* Checks one pattern at one shape against the token-level reference: the
 * block list (soundness, tightness), tiles, the scalar rule, the flat
 * evaluator, BSR export, counts and densities. */
#ifndef SPARSA_TESTS_PATTERNS_MASK_CHECK_H
#define SPARSA_TESTS_PATTERNS_MASK_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <sparsa/sparsa.h>

#include "reference/ref_membership.h"

typedef struct mask_case {
  int64_t q_len, kv_len;
  int32_t block_q, block_kv;
  int top_left;
} mask_case;

/* Runs every check; returns the number of failures and writes the first
 * one's description to msg. Pairs checked are added to *pairs. */
int mask_check(sparsa_context *ctx, const ref_pattern *rp, const mask_case *c, char *msg,
               size_t cap, int64_t *pairs);

/* Whether the library promises exact FULL / non-empty PARTIAL classes for
 * this pattern (see core/pattern.h). */
int mask_check_full_is_tight(const ref_pattern *rp);
int mask_check_partial_is_tight(const ref_pattern *rp, int64_t block_q);

#endif
