#include "demo_select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double dot(const float *a, const float *b, int d) {
  double s = 0.0;
  for (int c = 0; c < d; c++) s += (double)a[c] * b[c];
  return s;
}

/* Indices of the `count` largest scores (count <= n), any order. */
static void top_indices(const double *score, int64_t n, int64_t count, int64_t *out) {
  int64_t *idx = malloc((size_t)n * sizeof *idx);
  if (!idx) return;
  for (int64_t i = 0; i < n; i++) idx[i] = i;
  /* Partial selection: good enough for n of a few thousand. */
  for (int64_t s = 0; s < count; s++) {
    int64_t best = s;
    for (int64_t i = s + 1; i < n; i++)
      if (score[idx[i]] > score[idx[best]]) best = i;
    int64_t t = idx[s];
    idx[s] = idx[best];
    idx[best] = t;
    out[s] = idx[s];
  }
  free(idx);
}

int demo_select_vertical_slash(const float *q, const float *k, int64_t n, int heads, int dim, int h,
                               int last_queries, int num_cols, int num_diags, int64_t *cols,
                               int64_t *diags) {
  double *col_score = calloc((size_t)n, sizeof *col_score);
  double *diag_score = calloc((size_t)n, sizeof *diag_score);
  double *p = malloc((size_t)n * sizeof *p);
  if (!col_score || !diag_score || !p) {
    free(col_score);
    free(diag_score);
    free(p);
    return -1;
  }
  const double scale = 1.0 / sqrt((double)dim);
  int64_t first = n - last_queries > 0 ? n - last_queries : 0;
  for (int64_t i = first; i < n; i++) {
    const float *qi = q + ((size_t)i * heads + h) * dim;
    double mx = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j <= i; j++) {
      p[j] = scale * dot(qi, k + ((size_t)j * heads + h) * dim, dim);
      if (p[j] > mx) mx = p[j];
    }
    for (int64_t j = 0; j <= i; j++) sum += (p[j] = exp(p[j] - mx));
    for (int64_t j = 0; j <= i; j++) {
      col_score[j] += p[j] / sum;
      diag_score[i - j] += p[j] / sum;
    }
  }
  top_indices(col_score, n, num_cols < n ? num_cols : n, cols);
  top_indices(diag_score, n, num_diags < n ? num_diags : n, diags);
  free(col_score);
  free(diag_score);
  free(p);
  return 0;
}

int demo_select_blocks(const float *q, const float *k, int64_t n, int heads, int dim, int h,
                       int block, double keep_fraction, uint8_t *bitmap) {
  int64_t nb = (n + block - 1) / block;
  float *pq = calloc((size_t)(nb * dim), sizeof *pq);
  float *pk = calloc((size_t)(nb * dim), sizeof *pk);
  double *score = malloc((size_t)nb * sizeof *score);
  int64_t *pick = malloc((size_t)nb * sizeof *pick);
  if (!pq || !pk || !score || !pick) {
    free(pq);
    free(pk);
    free(score);
    free(pick);
    return -1;
  }
  for (int64_t t = 0; t < n; t++) {
    int64_t b = t / block;
    const float *qt = q + ((size_t)t * heads + h) * dim, *kt = k + ((size_t)t * heads + h) * dim;
    for (int c = 0; c < dim; c++) {
      pq[b * dim + c] += qt[c];
      pk[b * dim + c] += kt[c];
    }
  }
  for (int64_t b = 0; b < nb; b++) {
    int64_t len = (b + 1) * block <= n ? block : n - b * block;
    for (int c = 0; c < dim; c++) {
      pq[b * dim + c] /= (float)len;
      pk[b * dim + c] /= (float)len;
    }
  }
  memset(bitmap, 0, (size_t)(nb * nb));
  for (int64_t r = 0; r < nb; r++) {
    /* Causal key blocks 0..r; the first (sinks) and the diagonal (the
     * query's own neighbourhood) are always kept. */
    for (int64_t c = 0; c <= r; c++) score[c] = dot(pq + r * dim, pk + c * dim, dim);
    score[0] = score[r] = INFINITY;
    int64_t keep = (int64_t)ceil(keep_fraction * (double)(r + 1));
    if (keep < 2) keep = 2;
    if (keep > r + 1) keep = r + 1;
    top_indices(score, r + 1, keep, pick);
    for (int64_t e = 0; e < keep; e++) bitmap[r * nb + pick[e]] = 1;
  }
  free(pq);
  free(pk);
  free(score);
  free(pick);
  return 0;
}
