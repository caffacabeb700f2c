/* The decode kernel's reads without its arithmetic: how fast the memory
 * system delivers the very rows a sparse decode reads, in the kernel's
 * order, so that a decode rate can be told apart from what its access
 * pattern allows (rows of one kv head lie kilobytes apart in a token-major
 * cache, so a selected block is 64 short pieces, not one run). */
#ifndef SPARSA_BENCH_ROW_WALK_H
#define SPARSA_BENCH_ROW_WALK_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_row_walk {
  const void *k, *v;         /* the cache tensors */
  int batch, kv_heads;
  int64_t kv_len, block;     /* tokens; tokens per block */
  int64_t stride[3];         /* element strides over (batch, token, head), k and v alike */
  size_t row_bytes;          /* one token of one head */
  size_t elem_bytes;
  const uint8_t *selected;   /* kv_heads x blocks: 1 where the kv head reads the block */
  int head_major;            /* one head's blocks after another's; else every head's at each block */
} bench_row_walk;

/* Best GB/s over reps runs of `threads` threads loading every byte of the
 * selected rows of k and then v, block by block as the decode kernel walks
 * them (each thread a contiguous share of every sequence's blocks); the
 * bytes read go to *bytes. Negative on failure. */
double bench_row_walk_gbps(const bench_row_walk *walk, int threads, int reps, double *bytes);

#endif /* SPARSA_BENCH_ROW_WALK_H */
