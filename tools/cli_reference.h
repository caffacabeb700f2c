/* A float64 reference for `sparsa bench --check`: attention computed the
 * plain way, token by token, with visibility from the patterns' own rule
 * (sparsa_pattern_is_visible), so it shares nothing with the engine's block
 * machinery. Meant for small shapes. */
#ifndef SPARSA_CLI_REFERENCE_H
#define SPARSA_CLI_REFERENCE_H

#include <stdint.h>

#include "sparsa.h"

typedef struct cli_reference_input {
  int batch, q_heads, kv_heads, dim, v_dim;
  int64_t q_len, kv_len;
  int top_left;
  /* float32 copies of the engine's inputs, packed BSHD */
  const float *q, *k, *v;
  /* one pattern per query head, or NULL for dense */
  sparsa_pattern *const *patterns;
} cli_reference_input;

/* Compares the engine's output (float32 copy, packed BSHD) with the
 * reference: relative Frobenius error, and rows whose emptiness differs.
 * Returns 0, or -1 with a message on stderr. */
int cli_reference_check(const cli_reference_input *in, const float *engine_out, double *rel_error,
                        int64_t *bad_rows);

#endif /* SPARSA_CLI_REFERENCE_H */
