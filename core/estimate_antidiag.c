/* Antidiagonal scoring (XAttention): each S x S tile is summarized by the
 * sum along its antidiagonal, which touches every row and every column of
 * the tile once, so vertical and slash structure both leave a trace at 1/S
 * of the cost of full scores. Written as a product of "reversed strided"
 * query super-rows with strided key super-columns, each of width S * d.
 *
 * The product is blocked: the keys of one sequence and kv head are packed
 * once into strips of SP_EST_NR super-columns (bf16 pairs where the CPU
 * has bf16 dot products and the input is bf16, float32 otherwise); the
 * queries are packed a panel of query blocks at a time, and every strip
 * meets every register tile of the panel while it sits in cache. Each
 * super-row's softmax is then taken over its admissible scores only, in
 * base 2 (vectorized), and folded into its query block's row of w. */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "estimate.h"

/* Super-rows per panel (rounded to whole query blocks): enough register
 * tiles to reuse each key strip several times, few enough that the packed
 * panel and its scores stay in the core's cache. */
#define SP_AD_PANEL_ROWS 64

typedef struct sp_ad_layout {
  int32_t S, d;
  int bf16;            /* elements are bf16 bits (else float32) */
  int64_t width;       /* S * d */
  int64_t depth;       /* width, rounded up to a whole pair for bf16 */
  int64_t nsa, nsb;    /* super-rows, super-columns */
  int64_t strips;      /* ceil(nsb / SP_EST_NR) */
  size_t elem;         /* bytes per element */
} sp_ad_layout;

static void sp_ad_layout_init(const sp_est_input *in, sp_ad_layout *L) {
  L->S = in->est.stride;
  L->d = in->prob.head_dim;
  L->bf16 = in->prob.dtype == SPARSA_DTYPE_BF16 && sp_est_gemm_native_bf16();
  L->width = (int64_t)L->S * L->d;
  L->depth = L->bf16 ? (L->width + 1) / 2 * 2 : L->width;
  L->nsa = (in->prob.q_len + L->S - 1) / L->S;
  L->nsb = (in->prob.kv_len + L->S - 1) / L->S;
  L->strips = (L->nsb + SP_EST_NR - 1) / SP_EST_NR;
  L->elem = L->bf16 ? sizeof(uint16_t) : sizeof(float);
}

/* Rows of one head are a row stride apart (often kilobytes: the heads are
 * interleaved), a pattern the hardware prefetchers follow poorly; the
 * packing loops ask for the row SP_AD_PREFETCH tokens ahead. (Written
 * into the loops: GCC deletes calls of a function whose only effect is a
 * prefetch.) */
#define SP_AD_PREFETCH 16
#if defined(__GNUC__) || defined(__clang__)
#define SP_AD_PREFETCH_ROW(in, is_q, b, tok, head)                                       \
  do {                                                                                   \
    if ((tok) < ((is_q) ? (in)->prob.q_len : (in)->prob.kv_len)) {                      \
      const char *row_ = sp_ad_row_bytes(in, is_q, b, tok, head);                        \
      for (int64_t at_ = 0; at_ < (int64_t)(in)->prob.head_dim * sp_ad_elem(in); at_ += 64) \
        __builtin_prefetch(row_ + at_);                                                  \
    }                                                                                    \
  } while (0)
#else
#define SP_AD_PREFETCH_ROW(in, is_q, b, tok, head) ((void)0)
#endif

static int64_t sp_ad_elem(const sp_est_input *in) {
  return in->prob.dtype == SPARSA_DTYPE_F32 ? 4 : 2;
}

/* First byte of row tok of head `head` of q or k. */
static const char *sp_ad_row_bytes(const sp_est_input *in, int is_q, int32_t b, int64_t tok,
                                   int32_t head) {
  const int64_t *s = is_q ? in->prob.q_stride : in->prob.k_stride;
  return (const char *)(is_q ? in->q : in->k) + (b * s[0] + tok * s[1] + head * s[2]) * sp_ad_elem(in);
}

/* Row tok of head `head` as stored (bf16 inputs only: raw bits are packed
 * as they are). */
static const uint16_t *sp_ad_raw_row(const sp_est_input *in, int is_q, int32_t b, int64_t tok,
                                     int32_t head) {
  return (const uint16_t *)(const void *)sp_ad_row_bytes(in, is_q, b, tok, head);
}

/* Super-column sb is k[S sb + t] for t = 0..S-1 concatenated, zeros past
 * kv_len (zero rows make the omitted terms of the definition contribute
 * nothing). Strip s holds super-columns [s NR, s NR + NR). A strip is
 * filled one t at a time: the NR key rows S (s NR + j) + t are gathered
 * (scratch: NR x d floats) and written out in storage order, so stores
 * stream instead of striding through a strip larger than the L1 cache. */
static void sp_ad_pack_keys(const sp_est_input *in, const sp_ad_layout *L, int32_t b,
                            int32_t kvh, float *rows, void *packed) {
  memset(packed, 0, (size_t)(L->strips * SP_EST_NR * L->depth) * L->elem);
  int32_t d = L->d, S = L->S;
  for (int64_t s = 0; s < L->strips; s++) {
    int64_t cols = L->nsb - s * SP_EST_NR < SP_EST_NR ? L->nsb - s * SP_EST_NR : SP_EST_NR;
    for (int32_t t = 0; t < S; t++) {
      const uint16_t *raw[SP_EST_NR];
      int64_t n = 0; /* columns whose token exists: a prefix */
      for (int64_t j = 0; j < cols; j++) {
        int64_t tok = (int64_t)S * (s * SP_EST_NR + j) + t;
        if (tok >= in->prob.kv_len) break;
        /* the same rows one t later (or the next strip's first rows) */
        int64_t ahead = t + 1 < S ? tok + 1 : tok + (int64_t)S * SP_EST_NR - t;
        SP_AD_PREFETCH_ROW(in, 0, b, ahead, kvh);
        if (L->bf16)
          raw[j] = sp_ad_raw_row(in, 0, b, tok, kvh);
        else
          sp_est_load_k(in, b, tok, kvh, rows + j * d);
        n = j + 1;
      }
      int64_t x0 = (int64_t)t * d;
      if (!L->bf16) {
        float *dst = (float *)packed + (s * L->depth + x0) * SP_EST_NR;
        for (int32_t e = 0; e < d; e++)
          for (int64_t j = 0; j < n; j++) dst[(int64_t)e * SP_EST_NR + j] = rows[j * d + e];
      } else if (d % 2 == 0) { /* whole pairs: 32-bit moves */
        uint32_t *dst = (uint32_t *)packed + (s * (L->depth / 2) + x0 / 2) * SP_EST_NR;
        for (int32_t e = 0; e < d; e += 2)
          for (int64_t j = 0; j < n; j++) memcpy(dst + (e / 2) * SP_EST_NR + j, raw[j] + e, 4);
      } else {
        uint16_t *strip = (uint16_t *)packed + s * SP_EST_NR * L->depth;
        for (int32_t e = 0; e < d; e++) {
          int64_t x = x0 + e;
          for (int64_t j = 0; j < n; j++) strip[((x / 2) * SP_EST_NR + j) * 2 + (x & 1)] = raw[j][e];
        }
      }
    }
  }
}

/* Super-rows [a0, a0 + rows) as rows of depth elements: super-row a is
 * q[S a + S - 1 - t] for t = 0..S-1 concatenated, zeros past q_len and for
 * the padding rows up to rows_pad. */
static void sp_ad_pack_queries(const sp_est_input *in, const sp_ad_layout *L, int32_t b,
                               int32_t h, int64_t a0, int64_t rows, int64_t rows_pad,
                               void *packed) {
  memset(packed, 0, (size_t)(rows_pad * L->depth) * L->elem);
  int32_t d = L->d;
  for (int64_t i = 0; i < rows; i++) {
    for (int32_t t = 0; t < L->S; t++) {
      int64_t tok = (int64_t)L->S * (a0 + i) + L->S - 1 - t, at = i * L->depth + (int64_t)t * d;
      if (tok >= in->prob.q_len) continue;
      SP_AD_PREFETCH_ROW(in, 1, b, tok + SP_AD_PREFETCH, h);
      if (L->bf16)
        memcpy((uint16_t *)packed + at, sp_ad_raw_row(in, 1, b, tok, h), (size_t)d * 2);
      else
        sp_est_load_q(in, b, tok, h, (float *)packed + at);
    }
  }
}

/* Admissible super-columns of super-row a: b with S b <= last aligned
 * position of the super-row's queries (all of them without causal). */
static int64_t sp_ad_admissible(const sp_est_input *in, const sp_ad_layout *L, int64_t a) {
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

/* The score tile of the panel's rows [m, m + MR) against strip s. */
static void sp_ad_tile(const sp_ad_layout *L, const sp_ad_scratch *sc, int64_t m, int64_t s,
                       int64_t ld) {
  float *out = sc->scores + m * ld + s * SP_EST_NR;
  if (L->bf16)
    sp_est_tile_bf16((const uint16_t *)sc->queries + m * L->depth, L->depth,
                     (const uint16_t *)sc->keys + s * SP_EST_NR * L->depth, L->depth / 2, out, ld);
  else
    sp_est_tile_f32((const float *)sc->queries + m * L->depth, L->depth,
                    (const float *)sc->keys + s * SP_EST_NR * L->depth, L->depth, out, ld);
}

sparsa_status sp_est_antidiag_scores(const sp_est_input *in, int32_t b, int32_t h, double weight,
                                     double *w) {
  sp_ad_layout L;
  sp_ad_layout_init(in, &L);
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
  sp_ad_pack_keys(in, &L, b, h / in->group, sc.row, sc.keys);
  /* Scores are in base 2: 2^(x log2 e) = e^x. */
  float mul = (float)(in->prob.scale / L.S * 1.4426950408889634);
  for (int64_t r0 = 0; r0 < in->num_q_blocks; r0 += blocks_per_panel) {
    int64_t r1 = r0 + blocks_per_panel < in->num_q_blocks ? r0 + blocks_per_panel : in->num_q_blocks;
    int64_t a0 = r0 * rows_per_block;
    int64_t rows = (r1 * rows_per_block < L.nsa ? r1 * rows_per_block : L.nsa) - a0;
    int64_t rows_pad = (rows + SP_EST_MR - 1) / SP_EST_MR * SP_EST_MR;
    sp_ad_pack_queries(in, &L, b, h, a0, rows, rows_pad, sc.queries);
    for (int64_t i = 0; i < rows_pad; i++)
      sc.admissible[i] = i < rows ? sp_ad_admissible(in, &L, a0 + i) : 0;
    /* Strip-major: a strip is reused by every tile of the panel. */
    for (int64_t s = 0; s < L.strips; s++)
      for (int64_t m = 0; m < rows_pad; m += SP_EST_MR) {
        int64_t need = 0;
        for (int64_t i = m; i < m + SP_EST_MR; i++)
          if (sc.admissible[i] > need) need = sc.admissible[i];
        if (s * SP_EST_NR < need) sp_ad_tile(&L, &sc, m, s, ld);
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
  sp_ad_scratch_free(&sc);
  return SPARSA_OK;
}
