/* One execute test case: a random configuration (shapes, dtype, layouts,
 * per-head patterns, block sizes), its strided input buffers with NaN in
 * every gap, the float64 and naive references, and the accuracy check.
 * A failure message holds the whole configuration. */
#ifndef SPARSA_TESTS_EXECUTE_EXEC_CASE_H
#define SPARSA_TESTS_EXECUTE_EXEC_CASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sparsa/sparsa.h>

#include "reference/ref_attention.h"
#include "test_patterns.h"
#include "test_rng.h"

enum { EXEC_MAX_BATCH = 6, EXEC_MAX_HEADS = 8 };

typedef enum exec_layout { EXEC_PACKED = 0, EXEC_BHSD = 1, EXEC_PADDED = 2 } exec_layout;
typedef enum exec_lse_layout {
  EXEC_LSE_NONE = 0,   /* lse not requested */
  EXEC_LSE_PACKED = 1,
  EXEC_LSE_PADDED = 2,
  EXEC_LSE_SEQ_MAJOR = 3 /* [batch][seq][head] */
} exec_lse_layout;
typedef enum exec_mask_mode { EXEC_MASK_NULL = 0, EXEC_MASK_SHARED = 1, EXEC_MASK_PER_HEAD = 2 } exec_mask_mode;

typedef struct exec_config {
  uint64_t seed;
  sparsa_dtype dtype;
  int32_t batch, q_heads, kv_heads, head_dim, v_head_dim;
  int varlen;
  int64_t q_len, kv_len;                 /* the problem's (maxima for varlen) */
  int64_t seq_q[EXEC_MAX_BATCH], seq_kv[EXEC_MAX_BATCH];
  int32_t block_q, block_kv;
  sparsa_alignment alignment;
  exec_mask_mode mask_mode;
  test_pattern *patterns[EXEC_MAX_HEADS]; /* 1 (shared) or q_heads */
  exec_layout layout[4];                  /* q, k, v, out */
  exec_lse_layout lse_layout;
  int workspace_given;
  float scale;                            /* 0: default */
  double q_magnitude;
} exec_config;

/* A random configuration; `large` picks long sequences (1023/1025-ish). */
void exec_config_random(exec_config *c, uint64_t seed, int large);
void exec_config_free(exec_config *c);
void exec_config_print(const exec_config *c, FILE *f);
int32_t exec_config_num_patterns(const exec_config *c);

/* One strided tensor of the problem. */
typedef struct exec_tensor {
  int64_t stride[3];     /* as given to the problem (0s for packed) */
  int64_t eff[3];        /* effective strides used for addressing */
  int64_t elems;         /* buffer length in elements */
  void *data;
} exec_tensor;

typedef struct exec_case {
  const exec_config *cfg;
  sparsa_problem problem;
  int32_t cu_q[EXEC_MAX_BATCH + 1], cu_kv[EXEC_MAX_BATCH + 1];
  ref_shape shape;
  double *q, *k, *v;                     /* canonical inputs (dtype-exact values) */
  exec_tensor tq, tk, tv, tout;
  int64_t lse_stride[3];                 /* effective */
  int64_t lse_elems;
  double naive_factor;                   /* the rule's 2, raised where extra roundings are expected */
} exec_case;

void exec_case_init(exec_case *ec, const exec_config *c);
void exec_case_free(exec_case *ec);

/* The mask of the configuration on ctx (NULL for EXEC_MASK_NULL). */
sparsa_status exec_case_mask(const exec_case *ec, sparsa_context *ctx, sparsa_mask **out);

/* Output buffers filled with poison (NaN payloads no engine computes). */
void *exec_case_alloc_out(const exec_case *ec);
float *exec_case_alloc_lse(const exec_case *ec);

/* Membership of the configuration (ref_visible_fn; user = exec_case). */
int exec_case_visible(void *user, int32_t batch, int32_t head, int64_t i, int64_t j);

/* Checks out (and lse if non-NULL) against the references: accuracy rule,
 * no NaN, -inf exactly where rows see nothing, and every element outside
 * the output rows still holding its poison. Returns 1 when it passes, else
 * writes the reason into why. */
int exec_case_check(const exec_case *ec, const void *out, const float *lse, char *why,
                    size_t why_len);

/* Creates mask and plan on ctx, executes once, checks. Returns 1 when it
 * passes, else writes the reason into why and returns 0. */
int exec_case_run(sparsa_context *ctx, const exec_config *c, char *why, size_t why_len);

/* exec_case_run for a suite of many cases: a failure adds one to
 * *failures and, for the first max_reports failures, prints `title`, the
 * configuration and the reason to stderr. Returns 1 when the case passes. */
int exec_case_run_counted(sparsa_context *ctx, const exec_config *c, const char *title,
                          int64_t *failures, int64_t max_reports);

/* The suite's base seed: SPARSA_TEST_SEED when set, else the time. */
uint64_t exec_base_seed(void);

#endif
