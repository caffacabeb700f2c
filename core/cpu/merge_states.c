/* merge_states on the host: each row of the two partial results is
 * weighted by exp(lse_x - lse) with lse = log(exp(lse_a) + exp(lse_b)),
 * computed relative to the larger of the two so nothing overflows. A part
 * whose lse is -inf contributes nothing, whatever its output holds. */
#include <math.h>

#include "convert.h"
#include "cpu_engine.h"

static inline float sp_load(sparsa_dtype dtype, const void *base, int64_t i) {
  switch (dtype) {
    case SPARSA_DTYPE_F16: return sp_f16_to_f32(((const uint16_t *)base)[i]);
    case SPARSA_DTYPE_BF16: return sp_bf16_to_f32(((const uint16_t *)base)[i]);
    default: return ((const float *)base)[i];
  }
}

static inline void sp_store(sparsa_dtype dtype, void *base, int64_t i, float x) {
  switch (dtype) {
    case SPARSA_DTYPE_F16: ((uint16_t *)base)[i] = sp_f32_to_f16(x); break;
    case SPARSA_DTYPE_BF16: ((uint16_t *)base)[i] = sp_f32_to_bf16(x); break;
    default: ((float *)base)[i] = x; break;
  }
}

sparsa_status sp_cpu_merge_states(sparsa_context *ctx, const sparsa_problem *p,
                                  const void *out_a, const float *lse_a, const void *out_b,
                                  const float *lse_b, void *out, float *lse) {
  (void)ctx;
  const int varlen = p->cu_seqlens_q != NULL;
  for (int32_t b = 0; b < p->batch; b++) {
    int64_t start = varlen ? p->cu_seqlens_q[b] : 0;
    int64_t len = varlen ? (int64_t)p->cu_seqlens_q[b + 1] - p->cu_seqlens_q[b] : p->q_len;
    int64_t bb = varlen ? 0 : b;
    for (int32_t h = 0; h < p->q_heads; h++) {
      for (int64_t i = start; i < start + len; i++) {
        int64_t l_off = bb * p->lse_stride[0] + h * p->lse_stride[1] + i * p->lse_stride[2];
        int64_t o_off = bb * p->o_stride[0] + i * p->o_stride[1] + h * p->o_stride[2];
        double la = lse_a[l_off], lb = lse_b[l_off];
        double hi = la > lb ? la : lb;
        double wa = 0.0, wb = 0.0, merged = -INFINITY;
        if (hi != -INFINITY) {
          double ea = exp(la - hi), eb = exp(lb - hi);
          double total = ea + eb;
          merged = hi + log(total);
          wa = ea / total;
          wb = eb / total;
        }
        for (int32_t d = 0; d < p->v_head_dim; d++) {
          float x = 0.0f;
          if (wa > 0.0) x += (float)wa * sp_load(p->dtype, out_a, o_off + d);
          if (wb > 0.0) x += (float)wb * sp_load(p->dtype, out_b, o_off + d);
          sp_store(p->dtype, out, o_off + d, x);
        }
        if (lse != NULL) lse[l_off] = (float)merged;
      }
    }
  }
  return SPARSA_OK;
}
