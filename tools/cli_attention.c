#include "cli_attention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_tensor.h"
#include "cli_timer.h"

int cli_plan(sparsa_context *ctx, const sparsa_problem *problem, const sparsa_mask *mask,
             cli_planned *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  double t0 = cli_now_seconds();
  sparsa_status st = sparsa_plan_create(ctx, problem, mask, &out->plan);
  out->plan_seconds = cli_now_seconds() - t0;
  if (st != SPARSA_OK) {
    snprintf(err, err_size, "plan: %s: %s", sparsa_status_string(st), sparsa_last_error());
    return -1;
  }
  if ((st = sparsa_plan_workspace_size(out->plan, &out->workspace_bytes)) != SPARSA_OK ||
      (st = sparsa_plan_num_blocks(out->plan, &out->num_blocks)) != SPARSA_OK) {
    snprintf(err, err_size, "plan query: %s: %s", sparsa_status_string(st), sparsa_last_error());
    cli_planned_release(out);
    return -1;
  }
  if (out->workspace_bytes) {
    out->workspace = cli_alloc(out->workspace_bytes);
    if (!out->workspace) {
      snprintf(err, err_size, "out of memory for a %zu-byte workspace", out->workspace_bytes);
      cli_planned_release(out);
      return -1;
    }
  }
  return 0;
}

void cli_planned_release(cli_planned *p) {
  sparsa_plan_destroy(p->plan);
  free(p->workspace);
  memset(p, 0, sizeof *p);
}

int cli_time_execute(const cli_planned *p, const void *q, const void *k, const void *v, void *out,
                     float *lse, int reps, double *median_s, double *min_s, char *err,
                     size_t err_size) {
  if (reps < 1) reps = 1;
  double *times = malloc((size_t)reps * sizeof *times);
  if (!times) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  for (int r = -1; r < reps; r++) { /* r = -1: warm-up (page faults, thread start) */
    double t0 = cli_now_seconds();
    sparsa_status st = sparsa_execute(p->plan, q, k, v, out, lse, p->workspace, p->workspace_bytes);
    double t = cli_now_seconds() - t0;
    if (st != SPARSA_OK) {
      snprintf(err, err_size, "execute: %s: %s", sparsa_status_string(st), sparsa_last_error());
      free(times);
      return -1;
    }
    if (r >= 0) times[r] = t;
  }
  if (min_s) *min_s = cli_min(times, reps);
  if (median_s) *median_s = cli_median(times, reps);
  free(times);
  return 0;
}

double cli_block_flops(int64_t num_blocks, int block_q, int block_kv, int head_dim,
                       int v_head_dim) {
  return 2.0 * (double)num_blocks * block_q * block_kv * (double)(head_dim + v_head_dim);
}

void cli_head_major_kv(sparsa_problem *p) {
  const int64_t d = p->head_dim, vd = p->v_head_dim ? p->v_head_dim : p->head_dim;
  p->k_stride[0] = (int64_t)p->kv_heads * p->kv_len * d;
  p->k_stride[1] = d;
  p->k_stride[2] = p->kv_len * d;
  p->v_stride[0] = (int64_t)p->kv_heads * p->kv_len * vd;
  p->v_stride[1] = vd;
  p->v_stride[2] = p->kv_len * vd;
}
