/* Shapes of the CPU cases. Head dim 128 as in the GPU anchors; fewer heads
 * than the anchors' 32 where 2 cores would take minutes, which leaves
 * GFLOP/s (counted on the blocks computed) comparable. */
#ifndef SPARSA_BENCH_SHAPES_H
#define SPARSA_BENCH_SHAPES_H

#include "sparsa.h"

#define BENCH_HEAD_DIM 128
#define BENCH_BLOCK 64

/* A packed BSHD problem. */
sparsa_problem bench_problem(sparsa_dtype dtype, int batch, int q_heads, int kv_heads,
                             int64_t q_len, int64_t kv_len);

/* The dtypes every case runs: f32 and bf16. */
extern const sparsa_dtype bench_dtypes[2];

#endif /* SPARSA_BENCH_SHAPES_H */
