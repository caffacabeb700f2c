/* Double-precision sink + window attention, written from the pattern's
 * definition (sparsa_pattern.h): with off = kv_len - q_len and d = i + off - j,
 * key j is visible to query i iff d >= 0 and (j < sink or d < window). */
#include "reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

sw_case sw_default_case(void) {
  sw_case c = {.batch = 2, .q_heads = 4, .kv_heads = 2, .head_dim = 64,
               .q_len = 150, .kv_len = 200, .sink = 8, .window = 40};
  return c;
}

size_t sw_q_elems(const sw_case *c) {
  return (size_t)c->batch * (size_t)c->q_len * (size_t)c->q_heads * (size_t)c->head_dim;
}
size_t sw_kv_elems(const sw_case *c) {
  return (size_t)c->batch * (size_t)c->kv_len * (size_t)c->kv_heads * (size_t)c->head_dim;
}
size_t sw_lse_elems(const sw_case *c) {
  return (size_t)c->batch * (size_t)c->q_heads * (size_t)c->q_len;
}

void sw_fill(float *x, size_t n, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u; /* LCG: same values on every machine */
    x[i] = (float)((s >> 8) & 0xffffff) / (float)(1 << 23) - 1.0f;
  }
}

static int visible(const sw_case *c, int64_t i, int64_t j) {
  int64_t d = i + (c->kv_len - c->q_len) - j;
  return d >= 0 && (j < c->sink || d < c->window);
}

void sw_reference(const sw_case *c, const float *q, const float *k, const float *v,
                  double *out, double *lse, float *out_f32) {
  const int64_t D = c->head_dim, G = c->q_heads / c->kv_heads;
  const double scale = 1.0 / sqrt((double)D);
  double *w = malloc((size_t)c->kv_len * sizeof *w);
  float *wf = malloc((size_t)c->kv_len * sizeof *wf);
  if (!w || !wf) abort();
  for (int64_t b = 0; b < c->batch; b++)
    for (int64_t h = 0; h < c->q_heads; h++)
      for (int64_t i = 0; i < c->q_len; i++) {
        const float *qi = q + ((b * c->q_len + i) * c->q_heads + h) * D;
        double mx = -INFINITY;
        float mxf = -INFINITY;
        for (int64_t j = 0; j < c->kv_len; j++) {
          if (!visible(c, i, j)) continue;
          const float *kj = k + ((b * c->kv_len + j) * c->kv_heads + h / G) * D;
          double s = 0;
          float sf = 0;
          for (int64_t d = 0; d < D; d++) {
            s += (double)qi[d] * kj[d];
            sf += qi[d] * kj[d];
          }
          w[j] = s * scale;
          wf[j] = sf * (float)scale;
          if (w[j] > mx) mx = w[j];
          if (wf[j] > mxf) mxf = wf[j];
        }
        double sum = 0;
        float sumf = 0;
        for (int64_t j = 0; j < c->kv_len; j++) {
          if (!visible(c, i, j)) continue;
          w[j] = exp(w[j] - mx);
          wf[j] = expf(wf[j] - mxf);
          sum += w[j];
          sumf += wf[j];
        }
        double *o = out + ((b * c->q_len + i) * c->q_heads + h) * D;
        float *of = out_f32 ? out_f32 + ((b * c->q_len + i) * c->q_heads + h) * D : NULL;
        for (int64_t d = 0; d < D; d++) {
          double acc = 0;
          float accf = 0;
          for (int64_t j = 0; j < c->kv_len; j++) {
            if (!visible(c, i, j)) continue;
            float vj = v[((b * c->kv_len + j) * c->kv_heads + h / G) * D + d];
            acc += w[j] * vj;
            accf += wf[j] * vj;
          }
          o[d] = acc / sum;
          if (of) of[d] = accf / sumf;
        }
        lse[(b * c->q_heads + h) * c->q_len + i] = mx + log(sum);
      }
  free(w);
  free(wf);
}

int sw_compare(const sw_case *c, const float *out, const float *lse, const double *ref_out,
               const double *ref_lse, const float *out_f32) {
  const double floor_abs = 1e-5;
  double worst = 0, worst_f32 = 0;
  size_t worst_at = 0, nan = 0;
  for (size_t x = 0; x < sw_q_elems(c); x++) {
    if (isnan(out[x])) nan++;
    double e = fabs(out[x] - ref_out[x]);
    if (e > worst) { worst = e; worst_at = x; }
    double ef = fabs(out_f32[x] - ref_out[x]);
    if (ef > worst_f32) worst_f32 = ef;
  }
  double worst_lse = 0;
  for (size_t x = 0; x < sw_lse_elems(c); x++) {
    if (isnan(lse[x])) nan++;
    double e = fabs(lse[x] - ref_lse[x]);
    if (e > worst_lse) worst_lse = e;
  }
  printf("max |out - ref| = %.3g (float32 reference: %.3g), max |lse - ref| = %.3g, NaN: %zu\n",
         worst, worst_f32, worst_lse, nan);
  if (nan || worst > 2 * worst_f32 + floor_abs || worst_lse > 1e-4) {
    fprintf(stderr, "mismatch: worst output element %zu is %.9g, reference %.9g\n", worst_at,
            (double)out[worst_at], ref_out[worst_at]);
    return 1;
  }
  return 0;
}
