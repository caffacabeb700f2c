/* Float64 attention, the naive float32 computation, element types and the
 * accuracy rule; see ref_attention.h. */
#include "ref_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t ref_q_elems(const ref_shape *s) {
  return (int64_t)s->batch * s->q_heads * s->max_q_len * s->head_dim;
}
int64_t ref_k_elems(const ref_shape *s) {
  return (int64_t)s->batch * s->kv_heads * s->max_kv_len * s->head_dim;
}
int64_t ref_v_elems(const ref_shape *s) {
  return (int64_t)s->batch * s->kv_heads * s->max_kv_len * s->v_head_dim;
}
int64_t ref_out_elems(const ref_shape *s) {
  return (int64_t)s->batch * s->q_heads * s->max_q_len * s->v_head_dim;
}
int64_t ref_lse_elems(const ref_shape *s) { return (int64_t)s->batch * s->q_heads * s->max_q_len; }

static const double *ref_q_row(const ref_shape *s, const double *q, int32_t b, int32_t h, int64_t i) {
  return q + (((int64_t)b * s->q_heads + h) * s->max_q_len + i) * s->head_dim;
}
static const double *ref_k_row(const ref_shape *s, const double *k, int32_t b, int32_t hk, int64_t j) {
  return k + (((int64_t)b * s->kv_heads + hk) * s->max_kv_len + j) * s->head_dim;
}
static const double *ref_v_row(const ref_shape *s, const double *v, int32_t b, int32_t hk, int64_t j) {
  return v + (((int64_t)b * s->kv_heads + hk) * s->max_kv_len + j) * s->v_head_dim;
}
static int64_t ref_row_index(const ref_shape *s, int32_t b, int32_t h, int64_t i) {
  return ((int64_t)b * s->q_heads + h) * s->max_q_len + i;
}

void ref_attention_f64(const ref_shape *s, const double *q, const double *k, const double *v,
                       ref_visible_fn visible, void *user, double *out, double *lse) {
  int32_t group = s->q_heads / s->kv_heads;
  double *scores = malloc(sizeof(double) * (size_t)(s->max_kv_len > 0 ? s->max_kv_len : 1));
  unsigned char *seen = malloc((size_t)(s->max_kv_len > 0 ? s->max_kv_len : 1));
  for (int32_t b = 0; b < s->batch; b++) {
    for (int32_t h = 0; h < s->q_heads; h++) {
      int32_t hk = h / group;
      for (int64_t i = 0; i < s->q_len[b]; i++) {
        const double *qi = ref_q_row(s, q, b, h, i);
        double max = -INFINITY;
        for (int64_t j = 0; j < s->kv_len[b]; j++) {
          seen[j] = visible(user, b, h, i, j) != 0;
          if (!seen[j]) continue;
          const double *kj = ref_k_row(s, k, b, hk, j);
          double dot = 0.0;
          for (int32_t d = 0; d < s->head_dim; d++) dot += qi[d] * kj[d];
          scores[j] = dot * s->scale;
          if (scores[j] > max) max = scores[j];
        }
        int64_t row = ref_row_index(s, b, h, i);
        double *o = out + row * s->v_head_dim;
        for (int32_t d = 0; d < s->v_head_dim; d++) o[d] = 0.0;
        if (max == -INFINITY) {
          lse[row] = -INFINITY;
          continue;
        }
        double sum = 0.0;
        for (int64_t j = 0; j < s->kv_len[b]; j++) {
          if (!seen[j]) continue;
          double p = exp(scores[j] - max);
          sum += p;
          const double *vj = ref_v_row(s, v, b, hk, j);
          for (int32_t d = 0; d < s->v_head_dim; d++) o[d] += p * vj[d];
        }
        for (int32_t d = 0; d < s->v_head_dim; d++) o[d] /= sum;
        lse[row] = max + log(sum);
      }
    }
  }
  free(scores);
  free(seen);
}

void ref_attention_naive(const ref_shape *s, sparsa_dtype dtype, const double *q, const double *k,
                         const double *v, ref_visible_fn visible, void *user, double *out,
                         double *lse) {
  int32_t group = s->q_heads / s->kv_heads;
  size_t n = (size_t)(s->max_kv_len > 0 ? s->max_kv_len : 1);
  float *scores = malloc(sizeof(float) * n);
  unsigned char *seen = malloc(n);
  float *acc = malloc(sizeof(float) * (size_t)s->v_head_dim);
  float scale = (float)s->scale;
  for (int32_t b = 0; b < s->batch; b++) {
    for (int32_t h = 0; h < s->q_heads; h++) {
      int32_t hk = h / group;
      for (int64_t i = 0; i < s->q_len[b]; i++) {
        const double *qi = ref_q_row(s, q, b, h, i);
        float max = -INFINITY;
        for (int64_t j = 0; j < s->kv_len[b]; j++) {
          seen[j] = visible(user, b, h, i, j) != 0;
          if (!seen[j]) continue;
          const double *kj = ref_k_row(s, k, b, hk, j);
          float dot = 0.0f;
          for (int32_t d = 0; d < s->head_dim; d++) dot += (float)qi[d] * (float)kj[d];
          scores[j] = dot * scale;
          if (scores[j] > max) max = scores[j];
        }
        int64_t row = ref_row_index(s, b, h, i);
        double *o = out + row * s->v_head_dim;
        for (int32_t d = 0; d < s->v_head_dim; d++) acc[d] = 0.0f;
        if (max == -INFINITY) {
          for (int32_t d = 0; d < s->v_head_dim; d++) o[d] = 0.0;
          lse[row] = -INFINITY;
          continue;
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < s->kv_len[b]; j++) {
          if (!seen[j]) continue;
          float p = expf(scores[j] - max);
          sum += p;
          const double *vj = ref_v_row(s, v, b, hk, j);
          for (int32_t d = 0; d < s->v_head_dim; d++) acc[d] += p * (float)vj[d];
        }
        for (int32_t d = 0; d < s->v_head_dim; d++) o[d] = ref_round((double)(acc[d] / sum), dtype);
        lse[row] = (double)(max + logf(sum));
      }
    }
  }
  free(scores);
  free(seen);
  free(acc);
}

/* ---- element types ---- */

/* Round to a binary format with `precision` significand bits whose
 * smallest normal exponent is min_exp (as frexp counts: 2^(min_exp - 1)). */
static double ref_round_format(double x, int precision, int min_exp, double max_finite) {
  if (x == 0.0 || !isfinite(x)) return x;
  int e;
  frexp(x, &e);
  if (e < min_exp) e = min_exp;
  double quantum = ldexp(1.0, e - precision);
  double r = nearbyint(x / quantum) * quantum;
  if (fabs(r) > max_finite) return copysign(INFINITY, x);
  return r;
}

double ref_round(double x, sparsa_dtype dtype) {
  switch (dtype) {
    case SPARSA_DTYPE_F16: return ref_round_format(x, 11, -13, 65504.0);
    case SPARSA_DTYPE_BF16: return ref_round_format(x, 8, -125, 0x1.fep127);
    default: return (double)(float)x;
  }
}

uint16_t ref_f16_encode(double x) {
  uint16_t sign = signbit(x) ? 0x8000u : 0u;
  double a = fabs(x);
  if (isnan(x)) return 0x7e00u;
  if (isinf(x)) return (uint16_t)(sign | 0x7c00u);
  if (a == 0.0) return sign;
  if (a < 0x1p-14) return (uint16_t)(sign | (uint16_t)(a / 0x1p-24));
  int e;
  double m = frexp(a, &e); /* a = m 2^e, m in [0.5, 1) */
  uint16_t exponent = (uint16_t)(e - 1 + 15);
  uint16_t mantissa = (uint16_t)((m * 2.0 - 1.0) * 1024.0);
  return (uint16_t)(sign | exponent << 10 | mantissa);
}

double ref_f16_decode(uint16_t bits) {
  double sign = bits & 0x8000u ? -1.0 : 1.0;
  int exponent = (bits >> 10) & 0x1f;
  int mantissa = bits & 0x3ff;
  if (exponent == 0x1f) return mantissa ? NAN : sign * INFINITY;
  if (exponent == 0) return sign * ldexp((double)mantissa, -24);
  return sign * ldexp(1.0 + mantissa / 1024.0, exponent - 15);
}

uint16_t ref_bf16_encode(double x) {
  float f = (float)x;
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  return (uint16_t)(bits >> 16);
}

double ref_bf16_decode(uint16_t bits) {
  uint32_t wide = (uint32_t)bits << 16;
  float f;
  memcpy(&f, &wide, sizeof f);
  return f;
}

double ref_load(sparsa_dtype dtype, const void *base, int64_t index) {
  switch (dtype) {
    case SPARSA_DTYPE_F16: return ref_f16_decode(((const uint16_t *)base)[index]);
    case SPARSA_DTYPE_BF16: return ref_bf16_decode(((const uint16_t *)base)[index]);
    default: return ((const float *)base)[index];
  }
}

void ref_store(sparsa_dtype dtype, void *base, int64_t index, double value) {
  switch (dtype) {
    case SPARSA_DTYPE_F16: ((uint16_t *)base)[index] = ref_f16_encode(ref_round(value, dtype)); break;
    case SPARSA_DTYPE_BF16: ((uint16_t *)base)[index] = ref_bf16_encode(ref_round(value, dtype)); break;
    default: ((float *)base)[index] = (float)value; break;
  }
}

/* ---- the accuracy rule ---- */

double ref_tolerance_floor(sparsa_dtype dtype) {
  switch (dtype) {
    case SPARSA_DTYPE_F16: return 1e-4;
    case SPARSA_DTYPE_BF16: return 1e-3;
    default: return 2e-6;
  }
}

double ref_lse_tolerance_floor(void) { return 1e-5; }

ref_error ref_compare(const double *got, const double *truth, int64_t n) {
  ref_error e = {0.0, -1, 0, -1};
  for (int64_t i = 0; i < n; i++) {
    double g = got[i], t = truth[i];
    int bad;
    if (isnan(g) || isnan(t)) {
      bad = 1;
    } else if (isinf(t) || isinf(g)) {
      bad = g != t;
    } else {
      double diff = fabs(g - t);
      if (diff > e.max_abs) {
        e.max_abs = diff;
        e.worst = i;
      }
      bad = 0;
    }
    if (bad) {
      if (e.mismatches == 0) e.first_mismatch = i;
      e.mismatches++;
    }
  }
  return e;
}

int ref_accurate(const ref_error *engine, const ref_error *naive, double floor) {
  return engine->mismatches == 0 && engine->max_abs <= 2.0 * naive->max_abs + floor;
}
