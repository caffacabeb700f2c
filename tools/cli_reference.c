#include "cli_reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int cli_reference_check(const cli_reference_input *in, const float *engine_out, double *rel_error,
                        int64_t *bad_rows) {
  const int group = in->q_heads / in->kv_heads;
  const double scale = 1.0 / sqrt((double)in->dim);
  double *score = malloc((size_t)in->kv_len * sizeof *score);
  double *acc = malloc((size_t)in->v_dim * sizeof *acc);
  if (!score || !acc) {
    free(score);
    free(acc);
    fprintf(stderr, "reference: out of memory\n");
    return -1;
  }
  double num = 0.0, den = 0.0;
  int64_t bad = 0;
  for (int b = 0; b < in->batch; b++)
    for (int h = 0; h < in->q_heads; h++)
      for (int64_t i = 0; i < in->q_len; i++) {
        const float *qi = in->q + (((size_t)b * in->q_len + i) * in->q_heads + h) * in->dim;
        const int g = h / group;
        double mx = -INFINITY;
        for (int64_t j = 0; j < in->kv_len; j++) {
          int32_t visible = 1;
          if (in->patterns &&
              sparsa_pattern_is_visible(in->patterns[h], in->q_len, in->kv_len, in->top_left, i, j,
                                        &visible) != SPARSA_OK) {
            fprintf(stderr, "reference: %s\n", sparsa_last_error());
            free(score);
            free(acc);
            return -1;
          }
          score[j] = -INFINITY;
          if (!visible) continue;
          const float *kj = in->k + (((size_t)b * in->kv_len + j) * in->kv_heads + g) * in->dim;
          double s = 0.0;
          for (int c = 0; c < in->dim; c++) s += (double)qi[c] * kj[c];
          score[j] = s * scale;
          if (score[j] > mx) mx = score[j];
        }
        for (int c = 0; c < in->v_dim; c++) acc[c] = 0.0;
        double sum = 0.0;
        if (mx > -INFINITY) {
          for (int64_t j = 0; j < in->kv_len; j++) {
            if (score[j] == -INFINITY) continue;
            double p = exp(score[j] - mx);
            sum += p;
            const float *vj = in->v + (((size_t)b * in->kv_len + j) * in->kv_heads + g) * in->v_dim;
            for (int c = 0; c < in->v_dim; c++) acc[c] += p * vj[c];
          }
        }
        const float *o = engine_out + (((size_t)b * in->q_len + i) * in->q_heads + h) * in->v_dim;
        int engine_empty = 1;
        for (int c = 0; c < in->v_dim; c++) {
          double ref = sum > 0 ? acc[c] / sum : 0.0; /* no visible key: output 0 */
          double d = (double)o[c] - ref;
          num += d * d;
          den += ref * ref;
          if (o[c] != 0.0f) engine_empty = 0;
        }
        if ((sum == 0.0 && !engine_empty) || isnan(o[0])) bad++;
      }
  *rel_error = den > 0 ? sqrt(num / den) : sqrt(num);
  *bad_rows = bad;
  free(score);
  free(acc);
  return 0;
}
