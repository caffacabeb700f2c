/* The setup most suites repeat: a mask of some patterns at some lengths,
 * and the plan of a problem over such a mask. */
#ifndef SPARSA_TESTS_COMMON_TEST_SETUP_H
#define SPARSA_TESTS_COMMON_TEST_SETUP_H

#include <stdint.h>

#include <sparsa/sparsa.h>

/* Lengths, block sizes and diagonal alignment of a mask. A block size of 0
 * keeps sparsa_mask_desc_init()'s default; so do lengths of 0 where a
 * problem supplies them (test_plan_create). */
typedef struct test_mask_shape {
  int64_t q_len, kv_len;
  int32_t block_q, block_kv;
  sparsa_alignment alignment;
} test_mask_shape;

/* sparsa_mask_create() over num_heads patterns (1: shared by every head).
 * The mask retains the patterns: the caller may destroy its own. */
sparsa_status test_mask_create(sparsa_context *ctx, test_mask_shape shape,
                               const sparsa_pattern *const *patterns, int32_t num_heads,
                               sparsa_mask **out);

/* The mask of shape (lengths 0: the problem's), then the plan of p over it.
 * The plan keeps the mask; nothing else is left for the caller to free. */
sparsa_status test_plan_create(sparsa_context *ctx, const sparsa_problem *p, test_mask_shape shape,
                               const sparsa_pattern *const *patterns, int32_t num_heads,
                               sparsa_plan **out);

#endif
