/* Timing one attention configuration on random data, shared by the cases. */
#include <stdlib.h>
#include <string.h>

#include "bench_case.h"
#include "cli_attention.h"
#include "cli_tensor.h"

/* Random q, k, v for one shape and dtype, kept for the next call: cases
 * time several masks on one shape, and drawing tens of millions of normal
 * values costs more than some of the runs. */
typedef struct tensor_set {
  sparsa_problem shape;
  void *q, *k, *v;
} tensor_set;

static tensor_set cached;

static int same_shape(const sparsa_problem *a, const sparsa_problem *b) {
  return a->dtype == b->dtype && a->batch == b->batch && a->q_heads == b->q_heads &&
         a->kv_heads == b->kv_heads && a->head_dim == b->head_dim &&
         a->v_head_dim == b->v_head_dim && a->q_len == b->q_len && a->kv_len == b->kv_len;
}

static void release_tensors(void) {
  free(cached.q);
  free(cached.k);
  free(cached.v);
  memset(&cached, 0, sizeof cached);
}

/* Random q, k and v (packed tensors) for p's shape and dtype, unless the
 * cached ones are. */
static int random_tensors(const sparsa_problem *p) {
  if (cached.q && same_shape(&cached.shape, p)) return 0;
  const int vd = p->v_head_dim ? p->v_head_dim : p->head_dim;
  const size_t nq = (size_t)p->batch * p->q_len * p->q_heads * p->head_dim;
  const size_t nk = (size_t)p->batch * p->kv_len * p->kv_heads * p->head_dim;
  const size_t nv = (size_t)p->batch * p->kv_len * p->kv_heads * vd;
  release_tensors();
  const size_t es = cli_dtype_size(p->dtype);
  size_t largest = nq > nk ? nq : nk;
  largest = largest > nv ? largest : nv;
  float *tmp = cli_alloc(largest * sizeof(float));
  cached.q = cli_alloc(nq * es);
  cached.k = cli_alloc(nk * es);
  cached.v = cli_alloc(nv * es);
  if (!tmp || !cached.q || !cached.k || !cached.v) {
    free(tmp);
    release_tensors();
    return -1;
  }
  cli_rng rng;
  cli_rng_seed(&rng, 12345);
  cli_fill_normal(&rng, tmp, nq, 1.0f);
  cli_from_f32(tmp, cached.q, nq, p->dtype);
  cli_fill_normal(&rng, tmp, nk, 1.0f);
  cli_from_f32(tmp, cached.k, nk, p->dtype);
  cli_fill_normal(&rng, tmp, nv, 1.0f);
  cli_from_f32(tmp, cached.v, nv, p->dtype);
  free(tmp);
  cached.shape = *p;
  return 0;
}

double bench_time_attention(const bench_env *env, const sparsa_problem *p, const sparsa_mask *mask,
                            int reps, int64_t *num_blocks) {
  const size_t es = cli_dtype_size(p->dtype);
  const int vd = p->v_head_dim ? p->v_head_dim : p->head_dim;
  const size_t no = (size_t)p->batch * p->q_len * p->q_heads * vd;
  void *out = cli_alloc(no * es);
  float *lse = cli_alloc((size_t)p->batch * p->q_heads * p->q_len * sizeof(float));
  double seconds = -1.0;
  char err[512];
  cli_planned planned = {0};
  if (!out || !lse || random_tensors(p)) {
    bench_log("   out of memory for the tensors\n");
    goto done;
  }
  if (cli_plan(env->ctx, p, mask, &planned, err, sizeof err)) {
    bench_log("   %s\n", err);
    goto done;
  }
  if (num_blocks) *num_blocks = planned.num_blocks;
  double median = 0.0;
  if (cli_time_execute(&planned, cached.q, cached.k, cached.v, out, lse, reps, &median, NULL, err,
                       sizeof err)) {
    bench_log("   %s\n", err);
    goto done;
  }
  seconds = median;
done:
  cli_planned_release(&planned);
  free(out);
  free(lse);
  return seconds;
}

int bench_random_kv(const sparsa_problem *p, const void **k, const void **v) {
  if (random_tensors(p)) return -1;
  *k = cached.k;
  *v = cached.v;
  return 0;
}

void bench_release_tensors(void) {
  release_tensors();
}
