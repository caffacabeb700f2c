/* Antidiagonal scoring (XAttention): each S x S tile is summarized by the
 * sum along its antidiagonal, which touches every row and every column of
 * the tile once, so vertical and slash structure both leave a trace at 1/S
 * of the cost of full scores. Written as a product of "reversed strided"
 * query super-rows with strided key super-columns, each of width S * d.
 *
 * The product is blocked: the keys of the sequence and kv head are packed
 * into strips of SP_EST_NR super-columns (bf16 pairs where the CPU has
 * bf16 dot products and the input is bf16, float32 otherwise; see
 * estimate_pack.c), the queries a panel of query blocks at a time, and
 * every strip meets every register tile of the panel while it sits in
 * cache. Each super-row's softmax is then taken over its admissible scores
 * only, in base 2 (vectorized), and folded into its query block's row of
 * w. */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "estimate.h"

/* Super-rows per panel (rounded to whole query blocks): enough register
 * tiles to reuse each key strip several times, few enough that the packed
 * panel and its scores stay in the core's cache. */
#define SP_AD_PANEL_ROWS 64

/* Admissible super-columns of super-row a: b with S b <= last aligned
 * position of the super-row's queries (all of them without causal). */
static int64_t sp_ad_admissible(const sp_est_input *in, const sp_est_layout *L, int64_t a) {
  if (!in->est.causal) return L->nsb;
  int64_t last = (int64_t)L->S * a + L->S - 1;
  if (last > in->prob.q_len - 1) last = in->prob.q_len - 1;
  last += in->off;
  if (last < 0) return 0;
  return last / L->S + 1 < L->nsb ? last / L->S + 1 : L->nsb;
}

typedef struct sp_ad_scratch {
  void *keys, *queries;
  float *scores, *row;
  int64_t *admissible;
  double *acc;
} sp_ad_scratch;

static void sp_ad_scratch_free(sp_ad_scratch *s) {
  sp_aligned_free(s->keys);
  sp_aligned_free(s->queries);
  sp_aligned_free(s->scores);
  sp_free(s->row);
  sp_free(s->admissible);
  sp_free(s->acc);
}

sparsa_status sp_est_antidiag_scores(const sp_est_input *in, int32_t b, int32_t h, double weight,
                                     double *w) {
  sp_est_layout L;
  sp_est_layout_init(in, in->est.stride, &L);
  int64_t nkb = in->num_kv_blocks;
  int64_t rows_per_block = in->est.block_q / L.S, cols_per_block = in->est.block_kv / L.S;
  int64_t blocks_per_panel = SP_AD_PANEL_ROWS / rows_per_block;
  if (blocks_per_panel < 1) blocks_per_panel = 1;
  int64_t panel_pad = (blocks_per_panel * rows_per_block + SP_EST_MR - 1) / SP_EST_MR * SP_EST_MR;
  int64_t ld = L.strips * SP_EST_NR;
  sp_ad_scratch sc;
  sc.keys = sp_aligned_alloc(sp_mul_size((size_t)(L.strips * SP_EST_NR * L.depth), L.elem));
  sc.queries = sp_aligned_alloc(sp_mul_size((size_t)(panel_pad * L.depth), L.elem));
  sc.scores = sp_aligned_alloc(sp_mul_size((size_t)(panel_pad * ld), sizeof(float)));
  sc.row = sp_malloc(sp_mul_size((size_t)(SP_EST_NR * L.d), sizeof(float)));
  sc.admissible = sp_malloc(sp_mul_size((size_t)panel_pad, sizeof(int64_t)));
  sc.acc = sp_malloc(sp_mul_size((size_t)nkb, sizeof(double)));
  if (sc.keys == NULL || sc.queries == NULL || sc.scores == NULL || sc.row == NULL ||
      sc.admissible == NULL || sc.acc == NULL) {
    sp_ad_scratch_free(&sc);
    return sp_fail(SPARSA_ERR_OUT_OF_MEMORY,
                   "antidiagonal estimator: allocating %lld x %lld strided keys",
                   (long long)L.nsb, (long long)L.width);
  }
  sp_est_pack_keys(in, &L, b, h / in->group, sc.row, sc.keys);
  /* Scores are in base 2: 2^(x log2 e) = e^x. */
  float mul = (float)(in->prob.scale / L.S * 1.4426950408889634);
  if (L.amx) sp_est_amx_begin();
  for (int64_t r0 = 0; r0 < in->num_q_blocks; r0 += blocks_per_panel) {
    int64_t r1 = r0 + blocks_per_panel < in->num_q_blocks ? r0 + blocks_per_panel : in->num_q_blocks;
    int64_t a0 = r0 * rows_per_block;
    int64_t rows = (r1 * rows_per_block < L.nsa ? r1 * rows_per_block : L.nsa) - a0;
    int64_t rows_pad = (rows + SP_EST_MR - 1) / SP_EST_MR * SP_EST_MR;
    sp_est_pack_queries(in, &L, b, h, a0, rows, rows_pad, sc.queries);
    for (int64_t i = 0; i < rows_pad; i++)
      sc.admissible[i] = i < rows ? sp_ad_admissible(in, &L, a0 + i) : 0;
    /* Strip-major: a strip is reused by every tile of the panel. */
    for (int64_t s = 0; s < L.strips; s++)
      for (int64_t m = 0; m < rows_pad; m += SP_EST_MR) {
        int64_t need = 0;
        for (int64_t i = m; i < m + SP_EST_MR; i++)
          if (sc.admissible[i] > need) need = sc.admissible[i];
        if (s * SP_EST_NR < need) sp_est_layout_tile(&L, sc.queries, m, sc.keys, s, sc.scores, ld);
      }
    for (int64_t r = r0; r < r1; r++) {
      int64_t i0 = r * rows_per_block - a0;
      int64_t i1 = ((r + 1) * rows_per_block < L.nsa ? (r + 1) * rows_per_block : L.nsa) - a0;
      memset(sc.acc, 0, (size_t)nkb * sizeof *sc.acc);
      for (int64_t i = i0; i < i1; i++) {
        int64_t n = sc.admissible[i];
        if (n == 0) continue;
        float *p = sc.scores + i * ld;
        double inv_z = 1.0 / sp_est_exp2_row(p, n, mul);
        for (int64_t c = 0; c * cols_per_block < n; c++) {
          int64_t end = (c + 1) * cols_per_block < n ? (c + 1) * cols_per_block : n;
          float sum = 0.0f;
          for (int64_t sb = c * cols_per_block; sb < end; sb++) sum += p[sb];
          sc.acc[c] += (double)sum * inv_z;
        }
      }
      double per_row = weight / (double)(i1 - i0);
      for (int64_t c = 0; c < nkb; c++) w[r * nkb + c] += sc.acc[c] * per_row;
    }
  }
  if (L.amx) sp_est_amx_end();
  sp_ad_scratch_free(&sc);
  return SPARSA_OK;
}
