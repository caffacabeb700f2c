/* Packing q and k for the register-tiled products of the estimators
 * (estimate_gemm.c): "super-rows" of S consecutive queries in reverse
 * order and "super-columns" of S consecutive keys, each concatenated into
 * one row of width S * d (S = 1: plain rows, as vertical-slash uses them;
 * S = the stride: the antidiagonal estimator's strided reshape). bf16
 * inputs stay bf16 where the CPU has bf16 dot products; everything else is
 * widened to float32. */
#include <string.h>

#include "estimate.h"

void sp_est_layout_init(const sp_est_input *in, int32_t stride, sp_est_layout *L) {
  L->S = stride;
  L->d = in->prob.head_dim;
  L->isa = in->isa;
  L->bf16 = in->prob.dtype == SPARSA_DTYPE_BF16 && sp_est_gemm_bf16_dots(in->isa);
  L->width = (int64_t)L->S * L->d;
  L->depth = L->bf16 ? (L->width + 1) / 2 * 2 : L->width;
  L->nsa = (in->prob.q_len + L->S - 1) / L->S;
  L->nsb = (in->prob.kv_len + L->S - 1) / L->S;
  L->strips = (L->nsb + SP_EST_NR - 1) / SP_EST_NR;
  L->elem = L->bf16 ? sizeof(uint16_t) : sizeof(float);
  L->amx = L->bf16 && in->isa == SP_CPU_ISA_AMX_BF16 && L->depth % 32 == 0 && sp_est_amx_built();
}

/* Row tok of head `head` as stored (bf16 inputs only: raw bits are packed
 * as they are). */
static const uint16_t *sp_pack_raw_row(const sp_est_input *in, int is_q, int32_t b,
                                       int64_t tok, int32_t head) {
  return (const uint16_t *)sp_est_token_row(in, is_q, b, tok, head);
}

/* Rows of one head are a row stride apart (often kilobytes: the heads are
 * interleaved), a pattern the hardware prefetchers follow poorly; the
 * packing loops ask for the row SP_PACK_AHEAD tokens ahead. (Written
 * into the loops: GCC deletes calls of a function whose only effect is a
 * prefetch.) */
#define SP_PACK_AHEAD 16
#if defined(__GNUC__) || defined(__clang__)
#define SP_PACK_PREFETCH_ROW(in, is_q, b, tok, head)                                  \
  do {                                                                              \
    if ((tok) < ((is_q) ? (in)->prob.q_len : (in)->prob.kv_len)) {                  \
      const char *row_ = (const char *)sp_est_token_row(in, is_q, b, tok, head);    \
      for (int64_t at_ = 0; at_ < (in)->prob.head_dim * sp_est_elem_bytes(in); at_ += 64) \
        __builtin_prefetch(row_ + at_);                                             \
    }                                                                               \
  } while (0)
#else
#define SP_PACK_PREFETCH_ROW(in, is_q, b, tok, head) ((void)0)
#endif


/* Super-column sb is k[S sb + t] for t = 0..S-1 concatenated, zeros past
 * kv_len (zero rows make the omitted terms of the definition contribute
 * nothing). Strip s holds super-columns [s NR, s NR + NR). A strip is
 * filled one t at a time: the NR key rows S (s NR + j) + t are gathered
 * (scratch: NR x d floats) and written out in storage order, so stores
 * stream instead of striding through a strip larger than the L1 cache. */
void sp_est_pack_keys(const sp_est_input *in, const sp_est_layout *L, int32_t b,
                            int32_t kvh, float *rows, void *packed) {
  /* Zeros where nothing is written: keys past kv_len, all in the last
   * strip, and the pad of an odd width in bf16 pairs, in every strip. */
  const size_t strip_bytes = (size_t)(SP_EST_NR * L->depth) * L->elem;
  if (L->depth != L->width)
    memset(packed, 0, (size_t)L->strips * strip_bytes);
  else if (L->strips > 0)
    memset((char *)packed + (size_t)(L->strips - 1) * strip_bytes, 0, strip_bytes);
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
        SP_PACK_PREFETCH_ROW(in, 0, b, ahead, kvh);
        if (L->bf16)
          raw[j] = sp_pack_raw_row(in, 0, b, tok, kvh);
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
void sp_est_pack_queries(const sp_est_input *in, const sp_est_layout *L, int32_t b,
                               int32_t h, int64_t a0, int64_t rows, int64_t rows_pad,
                               void *packed) {
  memset(packed, 0, (size_t)(rows_pad * L->depth) * L->elem);
  int32_t d = L->d;
  for (int64_t i = 0; i < rows; i++) {
    for (int32_t t = 0; t < L->S; t++) {
      int64_t tok = (int64_t)L->S * (a0 + i) + L->S - 1 - t, at = i * L->depth + (int64_t)t * d;
      if (tok >= in->prob.q_len) continue;
      SP_PACK_PREFETCH_ROW(in, 1, b, tok + SP_PACK_AHEAD, h);
      if (L->bf16)
        memcpy((uint16_t *)packed + at, sp_pack_raw_row(in, 1, b, tok, h), (size_t)d * 2);
      else
        sp_est_load_q(in, b, tok, h, (float *)packed + at);
    }
  }
}

void sp_est_layout_tile(const sp_est_layout *L, const void *queries, int64_t m,
                        const void *keys, int64_t s, float *out, int64_t ld) {
  float *dst = out + m * ld + s * SP_EST_NR;
  if (L->amx)
    sp_est_tile_bf16_amx((const uint16_t *)queries + m * L->depth, L->depth,
                         (const uint16_t *)keys + s * SP_EST_NR * L->depth, L->depth / 2, dst, ld);
  else if (L->bf16)
    sp_est_tile_bf16(L->isa, (const uint16_t *)queries + m * L->depth, L->depth,
                     (const uint16_t *)keys + s * SP_EST_NR * L->depth, L->depth / 2, dst, ld);
  else
    sp_est_tile_f32(L->isa, (const float *)queries + m * L->depth, L->depth,
                    (const float *)keys + s * SP_EST_NR * L->depth, L->depth, dst, ld);
}
