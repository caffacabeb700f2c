/* The CPU attention kernel: one query block of one head against the key
 * blocks its mask row lists, with the online softmax of FlashAttention-2
 * (running row maximum, running sum, accumulator rescaled when the maximum
 * grows), all in float32.
 *
 * Data flow per item: the query block (the stacked query blocks of the
 * heads of one kv group) is converted once into scratch. Each key block is
 * a transposed panel (k^T) and each value block a row panel, both float32:
 * read from the call's shared panels when the schedule packed them (see
 * sp_cpu_phase), otherwise converted into the thread's scratch. S = Q K^T
 * and O += P V are small GEMMs over register tiles of SP_CPU_MR rows x
 * SP_CPU_NR columns (tile_gemm.h). Dot products are
 * scaled by scale * log2(e) afterwards, inside the softmax pass, so scores
 * are in base 2 and exp is exp2: scaling q beforehand would be cheaper by a
 * pass but rounds every product (products of f16/bf16 values are exact in
 * float32), which measurably costs accuracy at large logits. Plans of a
 * few rows per kv head (decode) run decode.c instead. Full blocks need no
 * element work; partial blocks are refined by the pattern's tile of 0/1
 * bytes. Rows and columns are padded in scratch (zero q rows, zero k/v
 * columns, -inf scores) so no inner loop has a remainder.
 *
 * Index arithmetic on tensors is 64-bit throughout: offsets are products of
 * strides and token positions. */
#include "amx_tiles.h"
#include "kernel_name.h"
#include "kernel_rows.h"

/* ---- bf16 products with vdpbf16ps (avx512_bf16) ------------------------- */

#if defined(__AVX512BF16__)
#include <immintrin.h>

#define SP_ATTEND_BF16_DOT 1

/* With bf16 inputs and avx512_bf16, S = Q K^T multiplies the bf16 values
 * as they are stored: q rows keep their bits (in pairs of elements, an odd
 * head dim padded with a zero), and a key panel holds pairs of dims per
 * column, kp[dd][j] = (k[j][2dd], k[j][2dd + 1]) as one 32-bit lane, so one
 * vdpbf16ps does two exact products and their sum per lane: the work of two
 * float32 FMAs. Products of bf16 values are exact in float32, so the scores
 * match the float32 path's to the order of the additions. */

/* Key block -> kp[dd][j] (ld = cols 32-bit lanes), columns nk..nk_pad and
 * the second half of an odd last pair zero. A pair is the 32 bits of two
 * adjacent bf16 values, so where the head dim is a multiple of 32 the pack
 * is a transpose of 32-bit lanes, 16 keys by 16 pairs at a time in
 * registers (sp_transpose_native), as sp_pack_keys does for float32. */
SP_CPU_INLINE void sp_pack_key_pairs(const uint16_t *k, int64_t row_stride, int32_t nk,
                                     int32_t nk_pad, int32_t dim, int32_t ld, uint32_t *kp) {
  const int32_t pairs = (dim + 1) / 2, even = dim / 2;
  int32_t j = 0;
#if defined(SP_CPU_HAVE_SHUFFLE)
  if (dim % (2 * SP_CPU_NR) == 0) {
    for (; j + SP_CPU_NR <= nk; j += SP_CPU_NR)
      for (int32_t dd0 = 0; dd0 < pairs; dd0 += SP_CPU_NR) {
        sp_f32xV t[SP_CPU_NR]; /* the pairs' bits, moved, never computed on */
        for (int i = 0; i < SP_CPU_NR; i++)
          memcpy(&t[i], k + (j + i) * row_stride + 2 * dd0, sizeof t[i]);
        sp_transpose_native(t);
        for (int i = 0; i < SP_CPU_NR; i++) memcpy(kp + (int64_t)(dd0 + i) * ld + j, &t[i], sizeof t[i]);
      }
  }
#endif
  for (; j < nk; j++) {
    const uint16_t *row = k + j * row_stride;
    for (int32_t dd = 0; dd < even; dd++)
      kp[(int64_t)dd * ld + j] = (uint32_t)row[2 * dd] | (uint32_t)row[2 * dd + 1] << 16;
    if (even < pairs) kp[(int64_t)even * ld + j] = row[2 * even];
  }
  if (nk < nk_pad)
    for (int32_t dd = 0; dd < pairs; dd++)
      memset(kp + (int64_t)dd * ld + nk, 0, (size_t)(nk_pad - nk) * sizeof(uint32_t));
}

/* s[rows][ld_s] = q[rows][2 * pairs] . kp[pairs][cols], register tiles of
 * SP_CPU_MR rows by 32 (or 16) columns; q rows ld_q elements apart. */
SP_CPU_INLINE void sp_gemm_qk_bf16(const uint16_t *q, int32_t ld_q, int32_t rows, int32_t pairs,
                                   const uint32_t *kp, int32_t ld_kp, int32_t cols, float *s,
                                   int32_t ld_s) {
  for (int32_t i0 = 0; i0 < rows; i0 += SP_CPU_MR) {
    const uint16_t *qa = q + (int64_t)i0 * ld_q;
    int32_t j0 = 0;
    for (; j0 + 2 * SP_CPU_NR <= cols; j0 += 2 * SP_CPU_NR) {
      __m512 a0[SP_CPU_MR], a1[SP_CPU_MR];
      for (int r = 0; r < SP_CPU_MR; r++) a0[r] = a1[r] = _mm512_setzero_ps();
      for (int32_t dd = 0; dd < pairs; dd++) {
        const uint32_t *kr = kp + (int64_t)dd * ld_kp + j0;
        const __m512bh k0 = (__m512bh)_mm512_loadu_si512(kr);
        const __m512bh k1 = (__m512bh)_mm512_loadu_si512(kr + SP_CPU_NR);
        for (int r = 0; r < SP_CPU_MR; r++) {
          uint32_t pair;
          memcpy(&pair, qa + (int64_t)r * ld_q + 2 * dd, sizeof pair);
          const __m512bh x = (__m512bh)_mm512_set1_epi32((int)pair);
          a0[r] = _mm512_dpbf16_ps(a0[r], x, k0);
          a1[r] = _mm512_dpbf16_ps(a1[r], x, k1);
        }
      }
      for (int r = 0; r < SP_CPU_MR; r++) {
        float *sr = s + (int64_t)(i0 + r) * ld_s + j0;
        _mm512_storeu_ps(sr, a0[r]);
        _mm512_storeu_ps(sr + SP_CPU_NR, a1[r]);
      }
    }
    if (j0 < cols) {
      __m512 a0[SP_CPU_MR];
      for (int r = 0; r < SP_CPU_MR; r++) a0[r] = _mm512_setzero_ps();
      for (int32_t dd = 0; dd < pairs; dd++) {
        const __m512bh k0 = (__m512bh)_mm512_loadu_si512(kp + (int64_t)dd * ld_kp + j0);
        for (int r = 0; r < SP_CPU_MR; r++) {
          uint32_t pair;
          memcpy(&pair, qa + (int64_t)r * ld_q + 2 * dd, sizeof pair);
          a0[r] = _mm512_dpbf16_ps(a0[r], (__m512bh)_mm512_set1_epi32((int)pair), k0);
        }
      }
      for (int r = 0; r < SP_CPU_MR; r++) _mm512_storeu_ps(s + (int64_t)(i0 + r) * ld_s + j0, a0[r]);
    }
  }
}

#else
#define SP_ATTEND_BF16_DOT 0
#endif

/* ---- bf16 products on AMX tiles (amx_bf16) ----------------------------- */

#if SP_CPU_HAVE_AMX && SP_ATTEND_BF16_DOT
#define SP_ATTEND_AMX 1

/* On processors with AMX (Sapphire Rapids and later Xeons), one tdpbf16ps
 * adds a 16 x 32 bf16 tile times a 32 x 16 one into 16 x 16 float32 sums:
 * 16 times the products of a vdpbf16ps, which there issues once a cycle
 * and so gives bf16 no edge over float32 FMAs. Both block products run on
 * tiles: S = Q K^T with q rows as stored (A tiles, 32 dims a row) and the
 * key panel of pairs, which is the layout a B tile wants (a row of 16
 * keys' pairs of dims, sp_pack_key_pairs); O += P V with the probabilities
 * rounded to bf16 (A tiles, 32 keys a row, as the avx512bf16 decode and
 * GPU kernels round them) and value rows interleaved in pairs of keys (B
 * tiles, sp_pack_value_pairs). The accumulator stays in memory, where the
 * online softmax rescales it, and goes through tiles once per block.
 * Tiles 0-3 hold sums, 4 the A operand and 5-7 B operands; every tile is
 * 16 rows of 64 bytes, so one configuration serves the whole item. Rows
 * are padded to 16 (scratch holds them) and keys to 32 (zero
 * probabilities and zero value pairs). Head dims a multiple of 32 and
 * value dims a multiple of 16; other shapes take the vdpbf16ps loops. */
SP_CPU_INLINE int sp_attend_amx(const sparsa_problem *p) {
  return p->dtype == SPARSA_DTYPE_BF16 && p->head_dim % 32 == 0 && p->v_head_dim % 16 == 0;
}

static void sp_amx_begin(void) {
  static const uint8_t rows[8] = {16, 16, 16, 16, 16, 16, 16, 16};
  static const uint16_t bytes[8] = {64, 64, 64, 64, 64, 64, 64, 64};
  sp_amx_configure(rows, bytes);
}

/* Sum tiles 0 .. n - 1 (n <= 4) += the A tile (4) times the B tiles of
 * the 16-column groups at b, b + 16, ... (rows ld_b 32-bit lanes apart),
 * each loaded into 5, 6 or 7 as the one before it is multiplied. */
SP_CPU_INLINE void sp_amx_dp_row(const uint32_t *b, int32_t ld_b, int32_t n) {
  _tile_loadd(5, b, ld_b * 4);
  _tile_dpbf16ps(0, 4, 5);
  if (n > 1) {
    _tile_loadd(6, b + 16, ld_b * 4);
    _tile_dpbf16ps(1, 4, 6);
  }
  if (n > 2) {
    _tile_loadd(7, b + 32, ld_b * 4);
    _tile_dpbf16ps(2, 4, 7);
  }
  if (n > 3) {
    _tile_loadd(5, b + 48, ld_b * 4);
    _tile_dpbf16ps(3, 4, 5);
  }
}

/* s[rows16][ld_s] = q[rows16][dim] . kp[dim / 2][cols] (cols a multiple of
 * 16; q rows ld_q elements apart, kp rows ld_kp 32-bit lanes apart). */
static void sp_amx_qk(const uint16_t *q, int32_t ld_q, int32_t rows16, int32_t dim,
                      const uint32_t *kp, int32_t ld_kp, int32_t cols, float *s, int32_t ld_s) {
  for (int32_t i0 = 0; i0 < rows16; i0 += 16)
    for (int32_t j0 = 0; j0 < cols; j0 += 64) {
      const int32_t n = (cols - j0) / 16 < 4 ? (cols - j0) / 16 : 4;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int32_t d0 = 0; d0 < dim; d0 += 32) {
        _tile_loadd(4, q + (int64_t)i0 * ld_q + d0, ld_q * 2);
        sp_amx_dp_row(kp + (int64_t)(d0 / 2) * ld_kp + j0, ld_kp, n);
      }
      float *out = s + (int64_t)i0 * ld_s + j0;
      _tile_stored(0, out, ld_s * 4);
      if (n > 1) _tile_stored(1, out + 16, ld_s * 4);
      if (n > 2) _tile_stored(2, out + 32, ld_s * 4);
      if (n > 3) _tile_stored(3, out + 48, ld_s * 4);
    }
}

/* acc[rows16][cols] += p16[rows16][keys] . vp[keys / 2][cols] (keys a
 * multiple of 32, cols of 16; p16 rows ld_p elements apart, vp rows ld_v
 * 32-bit lanes apart). */
static void sp_amx_pv(const uint16_t *p16, int32_t ld_p, int32_t rows16, int32_t keys,
                      const uint32_t *vp, int32_t ld_v, int32_t cols, float *acc, int32_t ld_acc) {
  for (int32_t i0 = 0; i0 < rows16; i0 += 16)
    for (int32_t c0 = 0; c0 < cols; c0 += 64) {
      const int32_t n = (cols - c0) / 16 < 4 ? (cols - c0) / 16 : 4;
      float *o = acc + (int64_t)i0 * ld_acc + c0;
      _tile_loadd(0, o, ld_acc * 4);
      if (n > 1) _tile_loadd(1, o + 16, ld_acc * 4);
      if (n > 2) _tile_loadd(2, o + 32, ld_acc * 4);
      if (n > 3) _tile_loadd(3, o + 48, ld_acc * 4);
      for (int32_t k0 = 0; k0 < keys; k0 += 32) {
        _tile_loadd(4, p16 + (int64_t)i0 * ld_p + k0, ld_p * 2);
        sp_amx_dp_row(vp + (int64_t)(k0 / 2) * ld_v + c0, ld_v, n);
      }
      _tile_stored(0, o, ld_acc * 4);
      if (n > 1) _tile_stored(1, o + 16, ld_acc * 4);
      if (n > 2) _tile_stored(2, o + 32, ld_acc * 4);
      if (n > 3) _tile_stored(3, o + 48, ld_acc * 4);
    }
}

/* Value rows (bf16, row_stride apart) -> vp[kk][c] = (v[2kk][c],
 * v[2kk + 1][c]) as one 32-bit lane, rows ld lanes apart, for kk < keys /
 * 2: two rows interleaved element by element (vpermt2w), 32 columns at a
 * time; keys from nk on and columns from v_dim on are zero (a zero
 * probability times whatever lies there could be NaN). */
static void sp_pack_value_pairs(const uint16_t *v, int64_t row_stride, int32_t nk, int32_t keys,
                                int32_t v_dim, int32_t ld, uint32_t *vp) {
  /* Word i of the first half of a pair row is word i / 2 of row a (even
   * i) or of row b (odd i, index + 32); the second half the same from
   * word 16 on. */
  static const uint16_t order[2][32] = {
      {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
       8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47},
      {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
       24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63}};
  const __m512i low = _mm512_loadu_si512(order[0]), high = _mm512_loadu_si512(order[1]);
  for (int32_t kk = 0; kk < keys / 2; kk++) {
    const uint16_t *a = 2 * kk < nk ? v + 2 * kk * row_stride : NULL;
    const uint16_t *b = 2 * kk + 1 < nk ? v + (2 * kk + 1) * row_stride : NULL;
    uint32_t *out = vp + (int64_t)kk * ld;
    int32_t c = 0;
    for (; c + 32 <= v_dim; c += 32) {
      const __m512i x = a ? _mm512_loadu_si512(a + c) : _mm512_setzero_si512();
      const __m512i y = b ? _mm512_loadu_si512(b + c) : _mm512_setzero_si512();
      _mm512_storeu_si512(out + c, _mm512_permutex2var_epi16(x, low, y));
      _mm512_storeu_si512(out + c + 16, _mm512_permutex2var_epi16(x, high, y));
    }
    for (; c < v_dim; c++) out[c] = (uint32_t)(a ? a[c] : 0) | (uint32_t)(b ? b[c] : 0) << 16;
    for (; c < ld; c++) out[c] = 0;
  }
}

/* p16[r][j] = s[r][j] rounded to bf16 for r < rows and j < nk_pad; zero
 * past them, to rows16 and keys. */
static void sp_round_probabilities(const float *s, int32_t ld_s, int32_t rows, int32_t rows16,
                                   int32_t nk_pad, int32_t keys, uint16_t *p16) {
  for (int32_t r = 0; r < rows16; r++) {
    uint16_t *out = p16 + (int64_t)r * keys;
    int32_t j = 0;
    if (r < rows)
      for (; j < nk_pad; j += 16)
        _mm256_storeu_si256((__m256i *)(out + j),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(s + (int64_t)r * ld_s + j)));
    if (j < keys) memset(out + j, 0, (size_t)(keys - j) * sizeof *out);
  }
}

#else
#define SP_ATTEND_AMX 0
#endif

/* ---- the next block's rows, while this one is worked on ----------------- */

/* On the AVX2 and SSE builds only. Dense decode of q_len 16 (32/8 heads,
 * kv 32768, two threads) ran 8-20% faster with it on a Zen 3 (AVX2), and
 * ~12% faster on a Sapphire Rapids made to take the AVX2 path. On that
 * Sapphire Rapids' AVX-512 paths it gained nothing: sent in bursts before
 * each tile it was 5-20% slower at two threads; spread over the tiles'
 * depth, from 16% slower to 14% faster by case (medians of four
 * alternating runs), level on eight threads. */
#define SP_ATTEND_LINE_STREAM (SP_GEMM_LANES < 16)

/* The stream of the key and value rows of the next key block (n rows,
 * the first at element offsets k_at of k and v_at of v), spread over the
 * whole-width register tiles of this block's products: q.k over qk_cols
 * columns (0 where another loop computes it) and p.v over ld_acc, both
 * for rows_pad rows. */
static void sp_next_block_lines(const sp_cpu_call *call, int64_t k_at, int64_t v_at, int32_t n,
                                int32_t rows_pad, int32_t qk_cols, int32_t ld_acc,
                                sp_line_stream *out) {
  const sparsa_problem *p = &call->plan->problem;
  const int64_t elem = p->dtype == SPARSA_DTYPE_F32 ? 4 : 2;
  out->base[0] = (const unsigned char *)call->k + k_at * elem;
  out->base[1] = (const unsigned char *)call->v + v_at * elem;
  out->stride[0] = p->k_stride[1] * elem;
  out->stride[1] = p->v_stride[1] * elem;
  out->rows = n;
  out->row_bytes[0] = (int32_t)(p->head_dim * elem);
  out->row_bytes[1] = (int32_t)(p->v_head_dim * elem);
  out->part = out->row = out->at = 0;
  const int32_t width = SP_GEMM_NV * SP_GEMM_LANES;
  const int64_t tiles = (int64_t)(rows_pad / SP_GEMM_ROWS) * (qk_cols / width + ld_acc / width);
  const int64_t lines = (int64_t)n * ((out->row_bytes[0] + 63) / 64 + (out->row_bytes[1] + 63) / 64);
  out->per_tile = (int32_t)(tiles > 0 ? (lines + tiles - 1) / tiles : lines);
}

/* ---- one work item ------------------------------------------------------ */

/* Row r of the tile is query row r % nq of head h0 + r / nq. */
void SP_CPU_KERNEL(sp_cpu_attend_item)(const sp_cpu_call *call, const sp_cpu_item *item,
                                       unsigned char *scratch) {
  const sparsa_plan *plan = call->plan;
  const sparsa_problem *p = &plan->problem;
  const sp_cpu_scratch_layout *lay = &call->schedule->layout;
  const sp_sequence *seq = &plan->sequences[item->seq];
  const int varlen = p->cu_seqlens_q != NULL;
  const sparsa_dtype dtype = p->dtype;
  const int32_t dim = p->head_dim, v_dim = p->v_head_dim;
  const int32_t h0 = item->head, heads = call->schedule->heads_per_item;
  const int32_t kv_h = h0 / plan->group; /* the same for every stacked head */
  const int32_t mask_head = plan->num_mask_heads == 1 ? 0 : h0;

  float *q = (float *)(scratch + lay->q);
  float *kt = (float *)(scratch + lay->kt);
  float *vp = (float *)(scratch + lay->v);
  float *s = (float *)(scratch + lay->s);
  float *acc = (float *)(scratch + lay->acc);
  float *row_max = (float *)(scratch + lay->row_max);
  float *row_sum = (float *)(scratch + lay->row_sum);
  uint8_t *visible = scratch + lay->visible;
  float *row_buf = (float *)(scratch + lay->row);
  const int32_t ld_s = lay->cols, ld_acc = lay->v_cols;

  const int64_t q0 = (int64_t)item->q_block * plan->block_q;
  const int32_t nq = (int32_t)(seq->q_len - q0 < plan->block_q ? seq->q_len - q0 : plan->block_q);
  const int32_t rows = heads * nq;
  /* The tiled GEMMs work on whole register tiles. (Plans of a few rows per
   * kv head run the decode kernel, decode.c, instead.) */
  const int32_t rows_pad = (rows + SP_CPU_MR - 1) / SP_CPU_MR * SP_CPU_MR;

  /* Token rows of this sequence in the strided tensors: for varlen the
   * sequence axis is the packed token axis and the batch stride unused. */
  const int64_t b = varlen ? 0 : item->seq;
  const int64_t q_base = b * p->q_stride[0] + (seq->q_start + q0) * p->q_stride[1];
  const int64_t k_base = b * p->k_stride[0] + seq->kv_start * p->k_stride[1] + kv_h * p->k_stride[2];
  const int64_t v_base = b * p->v_stride[0] + seq->kv_start * p->v_stride[1] + kv_h * p->v_stride[2];
  const int64_t o_base = b * p->o_stride[0] + (seq->q_start + q0) * p->o_stride[1];

  const float score_mul = (float)((double)p->scale * SP_LOG2E);
  /* bf16 with avx512_bf16: q rows as bf16 pairs (ld_q16 elements apart)
   * and key panels of pairs, for vdpbf16ps (see sp_gemm_qk_bf16). */
  const int bf16_dot = SP_ATTEND_BF16_DOT && dtype == SPARSA_DTYPE_BF16;
  const int32_t pairs = (dim + 1) / 2, ld_q16 = 2 * pairs;
  /* bf16 on AMX: the same q rows and key panels, on tiles of 16 rows. */
#if SP_ATTEND_AMX
  const int amx = sp_attend_amx(p);
#else
  const int amx = 0;
#endif
  const int32_t rows16 = (rows + SP_CPU_AMX_ROWS - 1) / SP_CPU_AMX_ROWS * SP_CPU_AMX_ROWS;
  const int32_t rows_held = amx ? rows16 : rows_pad; /* q and acc rows the products read */
  uint16_t *q16 = (uint16_t *)q;
  for (int32_t hh = 0; hh < heads; hh++)
    for (int32_t i = 0; i < nq; i++) {
      const int64_t at = q_base + i * p->q_stride[1] + (int64_t)(h0 + hh) * p->q_stride[2];
      const int64_t r = (int64_t)hh * nq + i;
      if (bf16_dot) {
        memcpy(q16 + r * ld_q16, (const uint16_t *)call->q + at, (size_t)dim * sizeof(uint16_t));
        if (dim < ld_q16) q16[r * ld_q16 + dim] = 0;
      } else {
        sp_load_row(dtype, call->q, at, dim, q + r * dim);
      }
    }
  if (bf16_dot && rows_held > rows)
    memset(q16 + (int64_t)rows * ld_q16, 0, (size_t)(rows_held - rows) * (size_t)ld_q16 * sizeof(uint16_t));
  else if (rows_pad > rows)
    memset(q + (int64_t)rows * dim, 0, (size_t)(rows_pad - rows) * (size_t)dim * sizeof(float));
  for (int32_t r = 0; r < rows_pad; r++) {
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
  }
  memset(acc, 0, (size_t)rows_held * (size_t)ld_acc * sizeof(float));

  /* This pair's packed panels, one per key block, when the plan packs. */
  const size_t panel_floats = call->schedule->panel_bytes / sizeof(float);
  const float *panels = NULL;
  if (call->panels != NULL)
    panels = call->panels + (size_t)call->schedule->pair_panel[(int64_t)item->seq * p->kv_heads + kv_h] * panel_floats;

#if SP_ATTEND_AMX
  if (amx) sp_amx_begin();
#endif
  if (seq->list >= 0) {
    const sp_block_list *list = &plan->lists[seq->list];
    const sparsa_pattern *pattern = plan->patterns[mask_head];
    const sp_geom geom = sp_geom_make(seq->q_len, seq->kv_len, plan->alignment);
    const int64_t row = (int64_t)mask_head * list->num_q_blocks + item->q_block;
    for (sp_block_cursor cur = sp_block_cursor_at(list, row); cur.block >= 0; sp_block_cursor_next(&cur)) {
      const int64_t k0 = cur.block * plan->block_kv;
      const int32_t nk = (int32_t)(seq->kv_len - k0 < plan->block_kv ? seq->kv_len - k0 : plan->block_kv);
      const int32_t nk_pad = (nk + SP_CPU_NR - 1) / SP_CPU_NR * SP_CPU_NR;
      const int64_t k_off = k_base + k0 * p->k_stride[1], v_off = v_base + k0 * p->v_stride[1];
      const float *kt_block = kt, *v_block = vp;
      /* An item that packs its own blocks requests the next one's rows
       * while it works on this one (panels were packed ahead by others). */
      sp_line_stream next_lines, *lines = NULL;
      const int64_t next = SP_ATTEND_LINE_STREAM && panels == NULL ? sp_block_cursor_peek(&cur) : -1;
      if (next >= 0) {
        const int64_t n0 = next * plan->block_kv;
        const int32_t n = (int32_t)(seq->kv_len - n0 < plan->block_kv ? seq->kv_len - n0 : plan->block_kv);
        sp_next_block_lines(call, k_base + n0 * p->k_stride[1], v_base + n0 * p->v_stride[1], n,
                            rows_pad, bf16_dot ? 0 : nk_pad, ld_acc, &next_lines);
        lines = &next_lines;
      }
      if (panels != NULL) {
        kt_block = panels + (size_t)cur.block * panel_floats;
        v_block = kt_block + (size_t)dim * lay->cols;
      }
#if SP_ATTEND_BF16_DOT
      if (bf16_dot) {
        if (panels == NULL)
          sp_pack_key_pairs((const uint16_t *)call->k + k_off, p->k_stride[1], nk, nk_pad, dim, lay->cols,
                            (uint32_t *)kt);
#if SP_ATTEND_AMX
        if (amx)
          sp_amx_qk(q16, ld_q16, rows16, dim, (const uint32_t *)kt_block, lay->cols, nk_pad, s, ld_s);
        else
#endif
          sp_gemm_qk_bf16(q16, ld_q16, rows_pad, pairs, (const uint32_t *)kt_block, lay->cols, nk_pad, s,
                          ld_s);
      } else
#endif
      {
        if (panels == NULL)
          sp_pack_keys(dtype, call->k, k_off, p->k_stride[1], nk, nk_pad, dim, lay->cols, kt, row_buf);
        sp_gemm_qk(q, rows_pad, dim, kt_block, lay->cols, nk_pad, s, ld_s, lines);
      }
      if (!cur.full) {
        /* One tile of the shared pattern serves every stacked head. */
        sp_pattern_tile(pattern, &geom, q0, nq, k0, nk, visible, ld_s);
        for (int32_t r = 0; r < rows; r++) {
          float *sr = s + (int64_t)r * ld_s;
          const uint8_t *vr = visible + (int64_t)(r % nq) * ld_s;
          for (int32_t j = 0; j < nk; j++) sr[j] = vr[j] ? sr[j] : -INFINITY;
        }
      }
      for (int32_t r = 0; r < rows_pad; r++)
        for (int32_t j = nk; j < nk_pad; j++) s[(int64_t)r * ld_s + j] = -INFINITY;
      sp_softmax_update(s, ld_s, rows_pad, nk_pad, score_mul, row_max, row_sum, acc, ld_acc, ld_acc);
#if SP_ATTEND_AMX
      if (amx) {
        const int32_t keys = (nk_pad + SP_CPU_AMX_KEYS - 1) / SP_CPU_AMX_KEYS * SP_CPU_AMX_KEYS;
        uint16_t *p16 = (uint16_t *)(scratch + lay->p16);
        if (panels == NULL)
          sp_pack_value_pairs((const uint16_t *)call->v + v_off, p->v_stride[1], nk, keys, v_dim, ld_acc,
                              (uint32_t *)vp);
        sp_round_probabilities(s, ld_s, rows_pad, rows16, nk_pad, keys, p16);
        sp_amx_pv(p16, keys, rows16, keys, (const uint32_t *)v_block, ld_acc, ld_acc, acc, ld_acc);
        continue;
      }
#endif
      if (panels == NULL)
        sp_pack_values(dtype, call->v, v_off, p->v_stride[1], nk, nk_pad, v_dim, ld_acc, vp);
      sp_gemm_pv(s, ld_s, rows_pad, nk_pad, v_block, ld_acc, ld_acc, acc, ld_acc, lines);
    }
  }
#if SP_ATTEND_AMX
  if (amx) _tile_release(); /* the tile state is not left for the thread's other work */
#endif

  /* Normalize and write: a row that saw no key is 0 with lse -inf. */
  for (int32_t hh = 0; hh < heads; hh++) {
    const int64_t h = h0 + hh;
    for (int32_t i = 0; i < nq; i++) {
      const int32_t r = hh * nq + i;
      const int64_t o_off = o_base + i * p->o_stride[1] + h * p->o_stride[2];
      if (row_sum[r] > 0.0f)
        sp_store_row(dtype, acc + (int64_t)r * ld_acc, v_dim, 1.0f / row_sum[r], call->out, o_off);
      else
        sp_zero_row(dtype, v_dim, call->out, o_off);
    }
    if (call->lse != NULL) {
      const int64_t lse_base = b * p->lse_stride[0] + h * p->lse_stride[1] + (seq->q_start + q0) * p->lse_stride[2];
      for (int32_t i = 0; i < nq; i++) {
        const int32_t r = hh * nq + i;
        float value = -INFINITY;
        if (row_sum[r] > 0.0f)
          value = (float)(((double)row_max[r] + log2((double)row_sum[r])) * SP_LN2);
        call->lse[lse_base + i * p->lse_stride[2]] = value;
      }
    }
  }
}

void SP_CPU_KERNEL(sp_cpu_pack_panel)(const sp_cpu_call *call, int32_t seq_index, int32_t kv_head,
                                      int64_t kb, float *panel, unsigned char *scratch) {
  const sparsa_plan *plan = call->plan;
  const sparsa_problem *p = &plan->problem;
  const sp_cpu_scratch_layout *lay = &call->schedule->layout;
  const sp_sequence *seq = &plan->sequences[seq_index];
  const int64_t b = p->cu_seqlens_q != NULL ? 0 : seq_index;
  const int64_t k0 = kb * plan->block_kv;
  const int32_t nk = (int32_t)(seq->kv_len - k0 < plan->block_kv ? seq->kv_len - k0 : plan->block_kv);
  const int32_t nk_pad = (nk + SP_CPU_NR - 1) / SP_CPU_NR * SP_CPU_NR;
  const int64_t k_off = b * p->k_stride[0] + (seq->kv_start + k0) * p->k_stride[1] + kv_head * p->k_stride[2];
  const int64_t v_off = b * p->v_stride[0] + (seq->kv_start + k0) * p->v_stride[1] + kv_head * p->v_stride[2];
  float *row_buf = (float *)(scratch + lay->row);
#if SP_ATTEND_AMX
  /* The AMX products read key panels of pairs and value panels of pairs of
   * keys. */
  if (sp_attend_amx(p)) {
    const int32_t keys = (nk_pad + SP_CPU_AMX_KEYS - 1) / SP_CPU_AMX_KEYS * SP_CPU_AMX_KEYS;
    sp_pack_key_pairs((const uint16_t *)call->k + k_off, p->k_stride[1], nk, nk_pad, p->head_dim,
                      lay->cols, (uint32_t *)panel);
    sp_pack_value_pairs((const uint16_t *)call->v + v_off, p->v_stride[1], nk, keys, p->v_head_dim,
                        lay->v_cols, (uint32_t *)(panel + (size_t)p->head_dim * lay->cols));
    return;
  }
#endif
#if SP_ATTEND_BF16_DOT
  /* The kernel of this build reads bf16 key panels as pairs. */
  if (p->dtype == SPARSA_DTYPE_BF16)
    sp_pack_key_pairs((const uint16_t *)call->k + k_off, p->k_stride[1], nk, nk_pad, p->head_dim,
                      lay->cols, (uint32_t *)panel);
  else
#endif
    sp_pack_keys(p->dtype, call->k, k_off, p->k_stride[1], nk, nk_pad, p->head_dim, lay->cols, panel, row_buf);
  sp_pack_values(p->dtype, call->v, v_off, p->v_stride[1], nk, nk_pad, p->v_head_dim, lay->v_cols,
                 panel + (size_t)p->head_dim * lay->cols);
}
