/* Vertical-slash search from the last queries (MInference, FlexPrefill):
 * the exact attention of the last queries shows which key columns every
 * query reads (verticals) and which relative distances dominate (slashes);
 * both are chosen by cumulative mass, so the pattern keeps the mass target
 * on those queries. */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "estimate.h"

sparsa_status sp_est_vslash_mass(const sp_est_input *in, int32_t b, int32_t h, double weight,
                                 double *col_mass, double *diag_mass) {
  int32_t d = in->prob.head_dim;
  int64_t q_len = in->prob.q_len, kv_len = in->prob.kv_len;
  int64_t L = in->est.last_q < q_len ? in->est.last_q : q_len;
  float *keys = sp_aligned_alloc(sp_mul_size((size_t)(kv_len * d), sizeof(float)));
  float *qrow = sp_malloc(sp_mul_size((size_t)(SP_EST_TILE * d), sizeof(float)));
  float *p = sp_malloc(sp_mul_size((size_t)(SP_EST_TILE * kv_len), sizeof(float)));
  if (keys == NULL || qrow == NULL || p == NULL) {
    sp_aligned_free(keys);
    sp_free(qrow);
    sp_free(p);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "vertical-slash estimator: allocating %lld keys",
                   (long long)kv_len);
  }
  int32_t kvh = h / in->group;
  /* Only keys some last query can see are loaded. */
  int64_t visible_end = q_len - 1 + in->off + 1;
  if (visible_end > kv_len) visible_end = kv_len;
  for (int64_t j = 0; j < visible_end; j++) sp_est_load_k(in, b, j, kvh, keys + j * d);
  /* Softmax in base 2: 2^(x scale log2 e) = e^(x scale). */
  float mul = (float)(in->prob.scale * 1.4426950408889634);
  double share = weight / (double)L;
  /* Groups of queries share each pass over the keys. */
  for (int64_t g = q_len - L; g < q_len; g += SP_EST_TILE) {
    int32_t count = (int32_t)(q_len - g < SP_EST_TILE ? q_len - g : SP_EST_TILE);
    for (int32_t x = 0; x < count; x++) sp_est_load_q(in, b, g + x, h, qrow + x * d);
    int64_t n_max = g + count - 1 + in->off + 1; /* the group's last query sees the most */
    float dots[SP_EST_TILE * SP_EST_TILE];
    for (int64_t j = 0; j < n_max; j += SP_EST_TILE) {
      int32_t cols = (int32_t)(n_max - j < SP_EST_TILE ? n_max - j : SP_EST_TILE);
      sp_est_dot_tile(qrow, count, keys + j * d, cols, d, dots);
      for (int32_t x = 0; x < count; x++)
        for (int32_t y = 0; y < cols; y++)
          p[x * kv_len + j + y] = dots[x * SP_EST_TILE + y];
    }
    for (int32_t x = 0; x < count; x++) {
      int64_t pos = g + x + in->off;
      if (pos < 0) continue; /* sees no key: contributes no mass */
      int64_t n = pos + 1;
      float *row = p + x * kv_len;
      double z = sp_est_exp2_row(row, n, mul);
      double f = share / z;
      for (int64_t j = 0; j < n; j++) {
        double a = (double)row[j] * f;
        col_mass[j] += a;
        diag_mass[pos - j] += a;
      }
    }
  }
  sp_aligned_free(keys);
  sp_free(qrow);
  sp_free(p);
  return SPARSA_OK;
}

/* Chosen indices plus forced ones [0, forced), deduplicated and ascending. */
static sparsa_status sp_choose(const sp_est_input *in, const double *mass, int64_t n,
                               int64_t forced, sp_scored *scratch, int64_t *chosen,
                               uint8_t *mark, int64_t **out, int64_t *count) {
  int64_t c = sp_est_select(mass, n, in->est.selection, in->est.top_k, in->est.threshold,
                            scratch, chosen);
  memset(mark, 0, (size_t)n);
  for (int64_t e = 0; e < c; e++) mark[chosen[e]] = 1;
  if (forced > n) forced = n;
  for (int64_t e = 0; e < forced; e++) mark[e] = 1;
  int64_t total = 0;
  for (int64_t e = 0; e < n; e++) total += mark[e];
  *count = total;
  *out = NULL;
  if (total == 0) return SPARSA_OK;
  *out = sp_malloc(sp_mul_size((size_t)total, sizeof **out));
  if (*out == NULL)
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "vertical-slash estimator: %lld indices",
                   (long long)total);
  int64_t k = 0;
  for (int64_t e = 0; e < n; e++)
    if (mark[e]) (*out)[k++] = e;
  return SPARSA_OK;
}

sparsa_status sp_est_vslash_spec(const sp_est_input *in, const double *col_mass,
                                 const double *diag_mass, sp_head_spec *spec) {
  int64_t n = in->prob.kv_len;
  memset(spec, 0, sizeof *spec);
  spec->kind = SPARSA_HEAD_VERTICAL_SLASH;
  spec->causal = 1;
  sp_scored *scratch = sp_malloc(sp_mul_size((size_t)n, sizeof *scratch));
  int64_t *chosen = sp_malloc(sp_mul_size((size_t)n, sizeof *chosen));
  uint8_t *mark = sp_malloc((size_t)n);
  sparsa_status st;
  if (scratch == NULL || chosen == NULL || mark == NULL) {
    st = sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "vertical-slash estimator: selection buffers");
  } else {
    int64_t sinks = (int64_t)in->est.keep_sink_blocks * in->est.block_kv;
    int64_t diag = in->est.keep_diagonal ? in->est.block_kv : 0;
    st = sp_choose(in, col_mass, n, sinks, scratch, chosen, mark, &spec->columns,
                   &spec->num_columns);
    if (st == SPARSA_OK)
      st = sp_choose(in, diag_mass, n, diag, scratch, chosen, mark, &spec->offsets,
                     &spec->num_offsets);
  }
  sp_free(scratch);
  sp_free(chosen);
  sp_free(mark);
  if (st != SPARSA_OK) sp_head_spec_free(spec);
  return st;
}
