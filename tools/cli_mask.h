/* Masks from pattern specs: one pattern shared by all heads, or one per
 * head where the spec draws random structure per head. */
#ifndef SPARSA_CLI_MASK_H
#define SPARSA_CLI_MASK_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa.h"

typedef struct cli_mask_request {
  const char *spec;
  int32_t heads; /* query heads of the problem */
  int64_t q_len, kv_len;
  int32_t block_q, block_kv;
  int top_left; /* alignment of relative patterns */
  uint64_t seed;
} cli_mask_request;

/* Builds the mask; on failure returns non-zero with a message in err. */
int cli_mask_from_spec(sparsa_context *ctx, const cli_mask_request *req, sparsa_mask **out,
                       char *err, size_t err_size);

/* Whether the spec gives each head its own structure. */
int cli_spec_is_per_head(const char *spec);

/* A mask over explicit per-head patterns (num_heads 1 or heads). */
int cli_mask_from_patterns(sparsa_context *ctx, sparsa_pattern *const *patterns, int32_t num_heads,
                           int64_t q_len, int64_t kv_len, int32_t block_q, int32_t block_kv,
                           int top_left, sparsa_mask **out, char *err, size_t err_size);

#endif /* SPARSA_CLI_MASK_H */
