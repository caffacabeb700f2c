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

/* The last queries' scores come from the register-tiled product over
 * packed rows (stride 1), SP_EST_MR queries at a time against every key
 * strip they can see; each query's softmax is then taken in base 2 over
 * its visible keys and spread into the column and diagonal sums. */
sparsa_status sp_est_vslash_mass(const sp_est_input *in, int32_t b, int32_t h, double weight,
                                 double *col_mass, double *diag_mass) {
  int64_t q_len = in->prob.q_len;
  int64_t L = in->est.last_q < q_len ? in->est.last_q : q_len;
  int64_t first = q_len - L, rows_pad = (L + SP_EST_MR - 1) / SP_EST_MR * SP_EST_MR;
  sp_est_layout lay;
  sp_est_layout_init(in, 1, &lay);
  int64_t ld = lay.strips * SP_EST_NR;
  void *keys = sp_aligned_alloc(sp_mul_size((size_t)(ld * lay.depth), lay.elem));
  void *queries = sp_aligned_alloc(sp_mul_size((size_t)(rows_pad * lay.depth), lay.elem));
  float *scores = sp_aligned_alloc(sp_mul_size((size_t)(SP_EST_MR * ld), sizeof(float)));
  float *rows = sp_malloc(sp_mul_size((size_t)(SP_EST_NR * lay.d), sizeof(float)));
  if (keys == NULL || queries == NULL || scores == NULL || rows == NULL) {
    sp_aligned_free(keys);
    sp_aligned_free(queries);
    sp_aligned_free(scores);
    sp_free(rows);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY, "vertical-slash estimator: allocating %lld keys",
                   (long long)in->prob.kv_len);
  }
  sp_est_pack_keys(in, &lay, b, h / in->group, rows, keys);
  sp_est_pack_queries(in, &lay, b, h, first, L, rows_pad, queries);
  /* Softmax in base 2: 2^(x scale log2 e) = e^(x scale). */
  float mul = (float)(in->prob.scale * 1.4426950408889634);
  double share = weight / (double)L;
  if (lay.amx) sp_est_amx_begin();
  for (int64_t m = 0; m < L; m += SP_EST_MR) {
    int64_t count = L - m < SP_EST_MR ? L - m : SP_EST_MR;
    /* Query i sees keys [0, i + off]; the tile's last query sees the most. */
    int64_t seen = first + m + count - 1 + in->off + 1;
    const char *tile_rows = (const char *)queries + (size_t)(m * lay.depth) * lay.elem;
    for (int64_t s = 0; s * SP_EST_NR < seen; s++)
      sp_est_layout_tile(&lay, tile_rows, 0, keys, s, scores, ld);
    for (int64_t x = 0; x < count; x++) {
      int64_t pos = first + m + x + in->off;
      if (pos < 0) continue; /* sees no key: contributes no mass */
      float *row = scores + x * ld;
      sp_est_spread_row(row, share / sp_est_exp2_row(row, pos + 1, mul), pos, col_mass, diag_mass);
    }
  }
  if (lay.amx) sp_est_amx_end();
  sp_aligned_free(keys);
  sp_aligned_free(queries);
  sp_aligned_free(scores);
  sp_free(rows);
  return SPARSA_OK;
}

/* Chosen indices plus forced ones [0, forced), deduplicated and ascending. */
static sparsa_status sp_choose(const sp_est_input *in, const double *mass, int64_t n,
                               int64_t forced, sp_scored *scratch, int64_t *chosen,
                               uint8_t *mark, int64_t **out, int64_t *count) {
  memset(mark, 0, (size_t)n);
  sp_est_mark_selected(mass, n, in->est.selection, in->est.top_k, in->est.threshold, 1, scratch,
                       chosen, mark);
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
