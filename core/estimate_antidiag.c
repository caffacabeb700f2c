/* Antidiagonal scoring (XAttention): each S x S tile is summarized by the
 * sum along its antidiagonal, which touches every row and every column of
 * the tile once, so vertical and slash structure both leave a trace at 1/S
 * of the cost of full scores. Written as a dot product of "reversed
 * strided" query super-rows with strided key super-columns. */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "estimate.h"

/* Super-row a: q[S a + S - 1 - t] for t = 0..S-1 concatenated (zeros past
 * q_len); super-column b: k[S b + t] concatenated (zeros past kv_len). The
 * zero rows make the omitted terms of the definition contribute nothing. */
static void sp_pack_super(const sp_est_input *in, int is_q, int32_t b, int32_t head, int64_t len,
                          int64_t count, float *out) {
  int32_t d = in->prob.head_dim, S = in->est.stride;
  for (int64_t a = 0; a < count; a++) {
    for (int32_t t = 0; t < S; t++) {
      int64_t tok = is_q ? S * a + S - 1 - t : S * a + t;
      float *dst = out + (a * S + t) * d;
      if (tok >= len)
        memset(dst, 0, (size_t)d * sizeof *dst);
      else if (is_q)
        sp_est_load_q(in, b, tok, head, dst);
      else
        sp_est_load_k(in, b, tok, head, dst);
    }
  }
}

sparsa_status sp_est_antidiag_scores(const sp_est_input *in, int32_t b, int32_t h, double weight,
                                     double *w) {
  int32_t d = in->prob.head_dim, S = in->est.stride;
  int64_t q_len = in->prob.q_len, kv_len = in->prob.kv_len;
  int64_t nsa = (q_len + S - 1) / S, nsb = (kv_len + S - 1) / S;
  int64_t nkb = in->num_kv_blocks, width = (int64_t)S * d;
  int64_t rows_per_block = in->est.block_q / S, cols_per_block = in->est.block_kv / S;
  float *qs = sp_aligned_alloc(sp_mul_size((size_t)(nsa * width), sizeof(float)));
  float *ks = sp_aligned_alloc(sp_mul_size((size_t)(nsb * width), sizeof(float)));
  double *e = sp_malloc(sp_mul_size((size_t)(SP_EST_TILE * nsb), sizeof *e));
  double *acc = sp_malloc(sp_mul_size((size_t)nkb, sizeof *acc));
  if (qs == NULL || ks == NULL || e == NULL || acc == NULL) {
    sp_aligned_free(qs);
    sp_aligned_free(ks);
    sp_free(e);
    sp_free(acc);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY,
                   "antidiagonal estimator: allocating %lld x %lld strided rows", (long long)nsa,
                   (long long)width);
  }
  sp_pack_super(in, 1, b, h, q_len, nsa, qs);
  sp_pack_super(in, 0, b, h / in->group, kv_len, nsb, ks);
  double scale = in->prob.scale / S;
  for (int64_t r = 0; r < in->num_q_blocks; r++) {
    memset(acc, 0, (size_t)nkb * sizeof *acc);
    int64_t a0 = r * rows_per_block, a1 = a0 + rows_per_block < nsa ? a0 + rows_per_block : nsa;
    /* Groups of super-rows share each pass over the key super-columns. */
    for (int64_t g = a0; g < a1; g += SP_EST_TILE) {
      int32_t count = (int32_t)(a1 - g < SP_EST_TILE ? a1 - g : SP_EST_TILE);
      int64_t nb[SP_EST_TILE], nb_max = 0;
      for (int32_t x = 0; x < count; x++) {
        int64_t a = g + x;
        nb[x] = nsb;
        if (in->est.causal) {
          int64_t last = S * a + S - 1 < q_len - 1 ? S * a + S - 1 : q_len - 1;
          last += in->off;
          nb[x] = last < 0 ? 0 : (last / S + 1 < nsb ? last / S + 1 : nsb);
        }
        if (nb[x] > nb_max) nb_max = nb[x];
      }
      float dots[SP_EST_TILE * SP_EST_TILE];
      for (int64_t sb = 0; sb < nb_max; sb += SP_EST_TILE) {
        int32_t cols = (int32_t)(nb_max - sb < SP_EST_TILE ? nb_max - sb : SP_EST_TILE);
        sp_est_dot_tile(qs + g * width, count, ks + sb * width, cols, width, dots);
        for (int32_t x = 0; x < count; x++)
          for (int32_t y = 0; y < cols; y++)
            e[x * nsb + sb + y] = scale * (double)dots[x * SP_EST_TILE + y];
      }
      for (int32_t x = 0; x < count; x++) {
        double *row = e + x * nsb, mx = -INFINITY, z = 0.0;
        for (int64_t sb = 0; sb < nb[x]; sb++)
          if (row[sb] > mx) mx = row[sb];
        for (int64_t sb = 0; sb < nb[x]; sb++) {
          row[sb] = exp(row[sb] - mx);
          z += row[sb];
        }
        for (int64_t sb = 0; sb < nb[x]; sb++) acc[sb / cols_per_block] += row[sb] / z;
      }
    }
    double per_row = weight / (double)(a1 - a0);
    for (int64_t c = 0; c < nkb; c++) w[r * nkb + c] += acc[c] * per_row;
  }
  sp_aligned_free(qs);
  sp_aligned_free(ks);
  sp_free(e);
  sp_free(acc);
  return SPARSA_OK;
}
