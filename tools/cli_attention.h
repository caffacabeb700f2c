/* Planning and timing attention runs for demo and bench. */
#ifndef SPARSA_CLI_ATTENTION_H
#define SPARSA_CLI_ATTENTION_H

#include <stddef.h>

#include "sparsa.h"

/* A plan with its workspace, allocated once so timed runs allocate nothing. */
typedef struct cli_planned {
  sparsa_plan *plan;
  void *workspace;
  size_t workspace_bytes;
  int64_t num_blocks;
  double plan_seconds; /* time sparsa_plan_create took */
} cli_planned;

int cli_plan(sparsa_context *ctx, const sparsa_problem *problem, const sparsa_mask *mask,
             cli_planned *out, char *err, size_t err_size);
void cli_planned_release(cli_planned *p);

/* Runs once to warm up, then reps times; writes the median and minimum
 * seconds. Returns non-zero with a message on failure. */
int cli_time_execute(const cli_planned *p, const void *q, const void *k, const void *v, void *out,
                     float *lse, int reps, double *median_s, double *min_s, char *err,
                     size_t err_size);

/* Sets the problem's k and v strides for head-major tensors (batch, kv
 * head, token, dim: per-head caches) of its shape; q and the output stay
 * packed. */
void cli_head_major_kv(sparsa_problem *p);

/* Floating-point operations of the block products a plan computes:
 * 2 * block_q * block_kv * (head_dim + v_head_dim) per block. */
double cli_block_flops(int64_t num_blocks, int block_q, int block_kv, int head_dim, int v_head_dim);

#endif /* SPARSA_CLI_ATTENTION_H */
