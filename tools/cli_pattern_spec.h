/* Pattern specs: the text form of a pattern on the command line, e.g.
 * "causal", "window:512", "sink:128,2048", "blocks:0.1", "vslash:64,32",
 * "dilated:1024,4", "power:64", "global:16+window:256". Terms joined by '+'
 * are a union and factors joined by '&' an intersection ('&' binds tighter).
 * Kinds with random structure (blocks, vslash) draw a different structure
 * per head from a seed, as a per-head mask would have. */
#ifndef SPARSA_CLI_PATTERN_SPEC_H
#define SPARSA_CLI_PATTERN_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa.h"

typedef struct cli_pattern_shape {
  int64_t q_len, kv_len;
  int32_t block; /* block size random block patterns use */
  int32_t head;  /* head the pattern is for (varies random structure) */
  uint64_t seed;
} cli_pattern_shape;

/* Builds the pattern of spec for one head. On failure returns non-zero and
 * writes a message naming the bad part into err. */
int cli_pattern_from_spec(const char *spec, const cli_pattern_shape *shape, sparsa_pattern **out,
                          char *err, size_t err_size);

/* The "pattern specs:" section of --help texts: one line per kind. */
extern const char cli_pattern_spec_help[];

#endif /* SPARSA_CLI_PATTERN_SPEC_H */
