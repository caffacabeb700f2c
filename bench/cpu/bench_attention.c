/* Timing one attention configuration on random data, shared by the cases. */
#include <stdlib.h>

#include "bench_case.h"
#include "cli_attention.h"
#include "cli_tensor.h"

double bench_time_attention(const bench_env *env, const sparsa_problem *p, const sparsa_mask *mask,
                            int reps, int64_t *num_blocks) {
  const size_t es = cli_dtype_size(p->dtype);
  const int vd = p->v_head_dim ? p->v_head_dim : p->head_dim;
  const size_t nq = (size_t)p->batch * p->q_len * p->q_heads * p->head_dim;
  const size_t nk = (size_t)p->batch * p->kv_len * p->kv_heads * p->head_dim;
  const size_t nv = (size_t)p->batch * p->kv_len * p->kv_heads * vd;
  const size_t no = (size_t)p->batch * p->q_len * p->q_heads * vd;
  size_t largest = nq > nk ? nq : nk;
  largest = largest > nv ? largest : nv;
  void *q = cli_alloc(nq * es), *k = cli_alloc(nk * es), *v = cli_alloc(nv * es);
  void *out = cli_alloc(no * es);
  float *lse = cli_alloc((size_t)p->batch * p->q_heads * p->q_len * sizeof(float));
  float *tmp = cli_alloc(largest * sizeof(float));
  double seconds = -1.0;
  char err[512];
  cli_planned planned = {0};
  if (!q || !k || !v || !out || !lse || !tmp) {
    bench_log("   out of memory for the tensors\n");
    goto done;
  }
  cli_rng rng;
  cli_rng_seed(&rng, 12345);
  cli_fill_normal(&rng, tmp, nq, 1.0f);
  cli_from_f32(tmp, q, nq, p->dtype);
  cli_fill_normal(&rng, tmp, nk, 1.0f);
  cli_from_f32(tmp, k, nk, p->dtype);
  cli_fill_normal(&rng, tmp, nv, 1.0f);
  cli_from_f32(tmp, v, nv, p->dtype);
  if (cli_plan(env->ctx, p, mask, &planned, err, sizeof err)) {
    bench_log("   %s\n", err);
    goto done;
  }
  if (num_blocks) *num_blocks = planned.num_blocks;
  double median = 0.0;
  if (cli_time_execute(&planned, q, k, v, out, lse, reps, &median, NULL, err, sizeof err)) {
    bench_log("   %s\n", err);
    goto done;
  }
  seconds = median;
done:
  cli_planned_release(&planned);
  free(q);
  free(k);
  free(v);
  free(out);
  free(lse);
  free(tmp);
  return seconds;
}
