/* Host tensors for the tool: element types, conversion from and to float32,
 * a seeded random generator and error norms. */
#ifndef SPARSA_CLI_TENSOR_H
#define SPARSA_CLI_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa.h"

size_t cli_dtype_size(sparsa_dtype dtype);
const char *cli_dtype_name(sparsa_dtype dtype);
/* "f32", "f16" or "bf16"; 0 on success, -1 otherwise. */
int cli_parse_dtype(const char *text, sparsa_dtype *out);

/* 64-byte aligned, zeroed; NULL when out of memory. Free with free(). */
void *cli_alloc(size_t bytes);

/* Converts n floats to dtype (round to nearest even) and back. */
void cli_from_f32(const float *src, void *dst, size_t n, sparsa_dtype dtype);
void cli_to_f32(const void *src, float *dst, size_t n, sparsa_dtype dtype);

/* splitmix64: tiny, seedable, good enough for test data. */
typedef struct cli_rng {
  uint64_t state;
} cli_rng;
void cli_rng_seed(cli_rng *rng, uint64_t seed);
uint64_t cli_rng_next(cli_rng *rng);
double cli_rng_uniform(cli_rng *rng); /* [0, 1) */
double cli_rng_normal(cli_rng *rng);  /* mean 0, variance 1 */
void cli_fill_normal(cli_rng *rng, float *x, size_t n, float stddev);

/* ||a - ref|| / ||ref|| over n values (0 when both are 0). */
double cli_relative_error(const float *a, const float *ref, size_t n);

#endif /* SPARSA_CLI_TENSOR_H */
